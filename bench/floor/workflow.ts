/**
 * The floor workflow: the saga's happy path (workflows/order.ts, patch `commit-with-charge`) with the same input,
 * update, steps, activity options, summaries and search-attribute upserts, on no-op activities: Temporal does the same
 * work per order as for a real one (2 workflow tasks, 1 activity task, 1 local activity) while our code does none.
 * Deterministic workflow code: imports activity types only.
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
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { chargeOptions, STEP_RETRY, STEP_TIMEOUTS } from '../../workflows/activity-options';
import {
  DEFAULT_CURRENCY,
  COMMIT_WITH_CHARGE_PATCH,
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

/** The saga's happy path (PENDING + RESERVED, then CHARGING + PAID + COMPLETED) on no-op activities. */
export async function floorWorkflow(input: OrderWorkflowInput): Promise<OrderWorkflowResult> {
  const { orderId } = input;
  const { runId } = workflowInfo();
  // The saga's patch marker (always true here: a floor workflow never replays an older shape).
  const commitWithCharge = patched(COMMIT_WITH_CHARGE_PATCH);
  const local = (summary: string) => proxyLocalActivities<Activities>({ ...STEP_TIMEOUTS, retry: STEP_RETRY, summary });
  const decided: { reservation?: ReservationOutcome; totalCents?: number } = {};
  let stepCount = 0;
  const nextEventKeyPrefix = (): string => `${runId}/${++stepCount}`;

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
  const show = (status: OrderStatus): void => {
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.orderStatus, value: status },
      ...(decided.totalCents === undefined
        ? []
        : [{ key: SEARCH_ATTRIBUTES.orderTotalCents, value: decided.totalCents }]),
    ]);
  };

  const placed = await local('Place the order: record it and hold its stock').placeOrder({
    orderId,
    eventKeyPrefix: nextEventKeyPrefix(),
    customerId: input.customerId,
    workflowId: `floor-${orderId}`,
    lines: input.lines,
    requestHash: input.requestHash,
    paymentToken: input.paymentToken,
    currency: input.currency ?? DEFAULT_CURRENCY,
  });
  decided.reservation = placed.reservation;
  if (placed.reservation.status !== 'RESERVED' || !commitWithCharge) {
    throw new Error('the floor only runs the happy path');
  }
  const totalCents = placed.reservation.totalCents;
  decided.totalCents = totalCents;
  show(placed.status);
  const charged = await proxyActivities<Activities>({
    ...chargeOptions(input.settings),
    summary: `Charge ${totalCents} cents (round 1)`,
  }).chargeOrder({
    orderId,
    eventKeyPrefix: nextEventKeyPrefix(),
    runId,
    amountCents: totalCents,
    paymentToken: input.paymentToken,
    round: 1,
    complete: true,
  });
  if (charged.status !== 'approved' || charged.completed !== true)
    throw new Error('the floor only runs the happy path');
  show('COMPLETED');
  await condition(allHandlersFinished);
  return { orderId, status: 'COMPLETED' };
}
