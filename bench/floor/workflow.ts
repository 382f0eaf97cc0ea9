/**
 * The floor workflow: the saga's happy path with every side effect taken out. Same input, same `reservation` update
 * (answered once the reservation activity returns), same 8 activities in the same order (recordOrder, reserveStock,
 * recordStatus x4, chargePayment, commitStock; recordOrder and recordStatus(COMPLETED) local, as in the saga) and
 * the same 5 search-attribute upserts, so Temporal does the same work per order as for a real one (history events,
 * workflow tasks, visibility updates) while our code does none. Its throughput is what Temporal allows on this
 * machine: the ceiling the real saga is measured against.
 *
 * Deterministic workflow code: imports activity types only (see workflows/order.ts for the real saga).
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import {
  DEFAULT_CURRENCY,
  LOCAL_BOOKKEEPING_PATCH,
  REQUEST_MISMATCH_FAILURE,
  reservationUpdate,
  SEARCH_ATTRIBUTES,
  type OrderStatus,
  type OrderWorkflowInput,
  type OrderWorkflowResult,
  type ReservationOutcome,
  type ReservationUpdateArgs,
} from '../../workflows/definitions';

/** Workflow type name of the floor (the exported function below). */
export const FLOOR_WORKFLOW_TYPE = 'floorWorkflow';

/** The same timeouts and retry policy as the saga's bookkeeping steps. */
const STEP_OPTIONS = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
} as const;

/** The saga's happy path (PENDING -> RESERVED -> CHARGING -> PAID -> COMPLETED) on no-op activities. */
export async function floorWorkflow(input: OrderWorkflowInput): Promise<OrderWorkflowResult> {
  const { orderId } = input;
  const steps = proxyActivities<Activities>(STEP_OPTIONS);
  // The saga's patch, so the floor runs the same steps as local activities (recordOrder, COMPLETED).
  const bookkeeping = patched(LOCAL_BOOKKEEPING_PATCH) ? proxyLocalActivities<Activities>(STEP_OPTIONS) : steps;
  const decided: { reservation?: ReservationOutcome } = {};
  let totalCents: number | undefined;
  let seq = 1;

  setHandler(
    reservationUpdate,
    async () => {
      await condition(() => decided.reservation !== undefined);
      return decided.reservation as ReservationOutcome;
    },
    {
      validator: (args: ReservationUpdateArgs | undefined) => {
        if (args?.requestHash !== input.requestHash) {
          throw ApplicationFailure.create({ type: REQUEST_MISMATCH_FAILURE, nonRetryable: true });
        }
      },
    },
  );

  const upsert = (status: OrderStatus): void => {
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.orderStatus, value: status },
      { key: SEARCH_ATTRIBUTES.customerId, value: input.customerId },
      ...(totalCents === undefined ? [] : [{ key: SEARCH_ATTRIBUTES.orderTotalCents, value: totalCents }]),
    ]);
  };
  const transition = async (status: OrderStatus): Promise<void> => {
    upsert(status);
    seq += 1;
    await (status === 'COMPLETED' ? bookkeeping : steps).recordStatus({ orderId, seq, status, detail: {} });
  };

  upsert('PENDING');
  await bookkeeping.recordOrder({
    orderId,
    customerId: input.customerId,
    workflowId: `floor-${orderId}`,
    lines: input.lines,
    requestHash: input.requestHash,
    currency: input.currency ?? DEFAULT_CURRENCY,
  });
  const outcome = await steps.reserveStock({ orderId, lines: input.lines });
  if (outcome.status === 'RESERVED') totalCents = outcome.totalCents;
  decided.reservation = outcome;
  await transition('RESERVED');
  await transition('CHARGING');
  await steps.chargePayment({
    orderId,
    idempotencyKey: `payment-${orderId}`,
    amountCents: totalCents ?? 0,
    paymentToken: input.paymentToken,
  });
  await transition('PAID');
  await steps.commitStock(orderId);
  await transition('COMPLETED');
  await condition(allHandlersFinished);
  return { orderId, status: 'COMPLETED' };
}
