/**
 * The minimal workflow: the smallest Temporal workflow that does an order's I/O (Temporal's own ceiling). It answers
 * the `reservation` update inside its first workflow task (it prices the order itself: nothing is awaited), runs ONE
 * activity doing the order's database work in one transaction, and completes: 2 workflow tasks, 1 activity task.
 * Deterministic workflow code: imports activity types only.
 */
import { allHandlersFinished, ApplicationFailure, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import { STEP_RETRY, STEP_TIMEOUTS } from '../../workflows/activity-options';
import {
  REQUEST_MISMATCH_FAILURE,
  reservationUpdate,
  type OrderWorkflowInput,
  type OrderWorkflowResult,
  type ReservationOutcome,
  type ReservationUpdateArgs,
} from '../../workflows/definitions';
import type { MinimalActivities } from './activities';

/** Workflow type name of the minimal (the exported function below). */
export const MINIMAL_WORKFLOW_TYPE = 'minimalWorkflow';

/** Price of every line (the workflow prices the order itself, so the update needs no round trip). */
export const MINIMAL_PRICE_CENTS = 1000;

/** Update answered in the first task, one activity, completion. */
export async function minimalWorkflow(input: OrderWorkflowInput): Promise<OrderWorkflowResult> {
  const { orderId } = input;
  const lines = input.lines.map((line) => ({ ...line, productId: 0, unitPriceCents: MINIMAL_PRICE_CENTS }));
  const totalCents = lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
  const reserved: ReservationOutcome = { status: 'RESERVED', totalCents, lines };
  setHandler(reservationUpdate, () => reserved, {
    validator: (args: ReservationUpdateArgs | undefined) => {
      if (args?.requestHash !== input.requestHash) {
        throw ApplicationFailure.create({ type: REQUEST_MISMATCH_FAILURE, nonRetryable: true });
      }
    },
  });
  // The timeout and retry policy of the saga's steps.
  const { placeMinimalOrder } = proxyActivities<MinimalActivities>({ ...STEP_TIMEOUTS, retry: STEP_RETRY });
  await placeMinimalOrder({ orderId, lines: input.lines, amountCents: totalCents });
  await condition(allHandlersFinished);
  return { orderId, status: 'COMPLETED' };
}
