/**
 * The order saga as it ran before the lean saga (`orderSagaV1` below): one activity per status. Statuses and the
 * cancel flag work as in workflows/order.ts; a charge in flight always finishes (and is then refunded).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  CANCEL_REASONS,
  DEFAULT_CURRENCY,
  FAILURE_TYPES,
  isTerminal,
  LOCAL_BOOKKEEPING_PATCH,
  workflowIdFor,
  type OrderStatus,
  type OrderWorkflowInput,
  type OrderWorkflowResult,
  type ReservationOutcome,
} from './definitions';
import { chargeOptions, COMPENSATION_RETRY, STEP_RETRY, STEP_TIMEOUTS } from './activity-options';
import { awaitOperator, initialView, runToEnd, setOrderHandlers, takeCancel, upsertOrderAttributes } from './handlers';

/** How one round of charging ended. */
type ChargeOutcome = 'approved' | 'declined' | 'unavailable';

/** The gateway's decline code (e.g. `card_declined`), carried in the failure's details by `chargePayment`. */
function declineReason(failure: ApplicationFailure): string | undefined {
  const [detail] = failure.details ?? [];
  if (typeof detail !== 'object' || detail === null || !('reason' in detail)) return undefined;
  return typeof detail.reason === 'string' ? detail.reason : undefined;
}

/** An undo step, registered before the step it undoes. */
interface Compensation {
  name: string;
  run: () => Promise<void>;
}

/**
 * The saga as it ran before LEAN_SAGA_PATCH (one activity per status); orders started before the patch replay and
 * finish on it. Do not change what it schedules: recorded histories (test/fixtures/histories/*.v1.json and
 * *.v2.json) replay against it.
 */
export async function orderSagaV1(input: OrderWorkflowInput): Promise<OrderWorkflowResult> {
  const { orderId } = input;
  const steps = proxyActivities<Activities>({ ...STEP_TIMEOUTS, retry: STEP_RETRY });
  const undo = proxyActivities<Activities>({ ...STEP_TIMEOUTS, retry: COMPENSATION_RETRY });
  const payments = proxyActivities<Activities>(chargeOptions(input.settings));
  const bookkeeping = patched(LOCAL_BOOKKEEPING_PATCH)
    ? proxyLocalActivities<Activities>({ ...STEP_TIMEOUTS, retry: STEP_RETRY })
    : steps;

  const view = initialView(orderId);
  let cancelReason: string | undefined;
  let reservation: ReservationOutcome | undefined;
  let totalCents: number | undefined;
  let nextSeq = 1;
  let committing = false;
  const compensations: Compensation[] = [];

  const requestCancel = (reason: string): void => {
    if (takeCancel(view, orderId, reason, committing)) cancelReason = reason;
  };

  const retry = setOrderHandlers({ input, view, reservation: () => reservation, requestCancel });

  /**
   * Records a transition: search attributes for the UI, then the row + event + realtime publish (activity; a local
   * one for a terminal status, after which nothing checks for a cancel).
   */
  async function transition(status: OrderStatus, detail: Record<string, unknown> = {}, failureReason?: string) {
    view.status = status;
    upsertOrderAttributes(status, input.customerId, totalCents);
    const seq = nextSeq++;
    const recorder = isTerminal(status) ? bookkeeping : steps;
    const recorded = await recorder.recordStatus({
      orderId,
      seq,
      status,
      detail,
      ...(failureReason !== undefined ? { failureReason } : {}),
      ...(totalCents !== undefined ? { totalCents } : {}),
    });
    view.events.push({ seq, status, at: recorded.at, detail });
  }

  /** Runs every registered compensation, newest first, even if the workflow itself is being cancelled. */
  async function compensate(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...compensations].reverse()) {
        log.info('compensating', { orderId, step: compensation.name });
        await compensation.run();
      }
      compensations.length = 0;
    });
  }

  /** Ends the order CANCELLED: stock back on the shelf, any captured payment refunded. */
  async function cancelOrder(): Promise<OrderWorkflowResult> {
    await compensate();
    const reason = cancelReason ?? CANCEL_REASONS.signal;
    await transition('CANCELLED', { reason, refunded: view.payment.status === 'refunded' }, reason);
    return { orderId, status: 'CANCELLED', reason };
  }

  /** One charge round on the order's retry budget, always with the same idempotency key. */
  async function charge(amountCents: number): Promise<ChargeOutcome> {
    const idempotencyKey = view.payment.idempotencyKey;
    view.payment = { status: 'charging', idempotencyKey, amountCents };
    try {
      const result = await payments.chargePayment({
        orderId,
        idempotencyKey,
        amountCents,
        paymentToken: input.paymentToken,
      });
      view.payment = { status: 'approved', idempotencyKey, amountCents: result.amountCents };
      return 'approved';
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      const cause = error.cause;
      const lastError = cause?.message ?? error.message;
      if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.paymentDeclined) {
        view.payment = {
          status: 'declined',
          idempotencyKey,
          amountCents,
          lastError: declineReason(cause) ?? lastError,
        };
        return 'declined';
      }
      view.payment = { status: 'unavailable', idempotencyKey, amountCents, lastError };
      return 'unavailable';
    }
  }

  /** The saga itself, top to bottom like the status table. */
  async function saga(): Promise<OrderWorkflowResult> {
    // PENDING: visible in the UI from the first workflow task; then the order row and its first event.
    upsertOrderAttributes('PENDING', input.customerId, totalCents);
    const pending = await bookkeeping.recordOrder({
      orderId,
      customerId: input.customerId,
      workflowId: workflowIdFor(orderId),
      lines: input.lines,
      requestHash: input.requestHash,
      currency: input.currency ?? DEFAULT_CURRENCY,
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
    });
    nextSeq = pending.seq + 1;
    view.events.push({ seq: pending.seq, status: 'PENDING', at: pending.at, detail: { lines: input.lines } });

    // RESERVED or REJECTED. The reservation is always decided (it answers the `reservation` update), even when a
    // cancel is already waiting; the cancel then releases it.
    compensations.push({ name: 'releaseStock', run: () => undo.releaseStock(orderId).then(() => undefined) });
    const outcome = await steps.reserveStock({ orderId, lines: input.lines });
    if (outcome.status === 'REJECTED') {
      compensations.length = 0; // nothing was held
      reservation = outcome;
      await transition('REJECTED', { ...outcome }, outcome.reason);
      return { orderId, status: 'REJECTED', reason: outcome.reason };
    }
    totalCents = outcome.totalCents;
    reservation = outcome;
    await transition('RESERVED', { totalCents, lines: outcome.lines });
    if (view.cancelRequested) return cancelOrder();

    // CHARGING, with NEEDS_ATTENTION whenever a round spends its whole retry budget on transient errors.
    compensations.push({ name: 'refundPayment', run: () => refund() });
    for (;;) {
      view.attempts += 1;
      await transition('CHARGING', { attempt: view.attempts });
      if (view.cancelRequested) return cancelOrder(); // not charged yet
      const charged = await charge(totalCents);
      if (view.cancelRequested) return cancelOrder(); // a charge in flight finished; the refund undoes it
      if (charged === 'approved') break;
      if (charged === 'declined') {
        // FAILED: declines are final; release the stock.
        await compensate();
        const reason = view.payment.lastError ?? FAILURE_TYPES.paymentDeclined;
        await transition('FAILED', { reason }, reason);
        return { orderId, status: 'FAILED', reason };
      }
      retry.requested = false;
      await transition('NEEDS_ATTENTION', { lastError: view.payment.lastError, attempt: view.attempts });
      cancelReason = (await awaitOperator(retry, view, input.settings.attentionTimeoutMs)) ?? cancelReason;
      if (view.cancelRequested) return cancelOrder();
    }

    // PAID, then COMPLETED once the stock is committed (after which nothing is undone).
    await transition('PAID', { amountCents: view.payment.amountCents });
    if (view.cancelRequested) return cancelOrder();
    committing = true;
    await steps.commitStock(orderId); // regular: see COMPENSATION_RETRY's note
    compensations.length = 0;
    await transition('COMPLETED', {});
    return { orderId, status: 'COMPLETED' };
  }

  /** Refund compensation: a no-op when nothing was approved under the order's key. */
  async function refund(): Promise<void> {
    const result = await undo.refundPayment({ idempotencyKey: view.payment.idempotencyKey });
    if (result.refunded) view.payment = { ...view.payment, status: 'refunded' };
  }

  return runToEnd(saga);
}
