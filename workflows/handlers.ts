/**
 * What every shape of the order saga answers from the outside, registered once (workflows/order.ts for the lean saga,
 * workflows/order-v1.ts for orders started before it): the `status` query, the `cancel` and `retryPayment` signals,
 * the `reservation` update (docs/design.md, "Temporal contract"), and a Temporal cancellation request ("Cancel" in
 * the Web UI), which means the same as the `cancel` signal; and the steps both shapes take alike (`takeCancel`,
 * `awaitOperator`, `upsertOrderAttributes`). Registering handlers schedules no command, and the shared steps schedule
 * what each shape's own copy did, so sharing this code changes no history (the replay fixtures of every shape check
 * it).
 *
 * Deterministic workflow code.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  ATTENTION_TIMEOUT_REASON,
  CANCEL_REASONS,
  cancelSignal,
  isTerminal,
  paymentIdempotencyKey,
  REQUEST_MISMATCH_FAILURE,
  reservationUpdate,
  UNDECODABLE_UPDATE_FAILURE,
  retryPaymentSignal,
  SEARCH_ATTRIBUTES,
  statusQuery,
  type OrderStatus,
  type OrderStatusView,
  type OrderWorkflowInput,
  type ReservationOutcome,
} from './definitions';
import { isUndecodable } from '../lib/payload-converter';
import { cancelReasonFrom, warnUndecodable } from './signal-payloads';

/** The `status` query's view of a new order: PENDING, nothing charged, no events yet. */
export function initialView(orderId: string): OrderStatusView {
  return {
    status: 'PENDING',
    events: [],
    payment: { status: 'none', idempotencyKey: paymentIdempotencyKey(orderId) },
    attempts: 0,
    cancelRequested: false,
  };
}

/**
 * Makes the order filterable in the Temporal UI (`OrderStatus = "NEEDS_ATTENTION"`): upserts `OrderStatus` and
 * `CustomerId`, and `OrderTotalCents` once the total is known (undefined before the reservation). One
 * UpsertWorkflowSearchAttributes command.
 */
export function upsertOrderAttributes(status: OrderStatus, customerId: string, totalCents: number | undefined): void {
  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTES.orderStatus, value: status },
    { key: SEARCH_ATTRIBUTES.customerId, value: customerId },
    ...(totalCents !== undefined ? [{ key: SEARCH_ATTRIBUTES.orderTotalCents, value: totalCents }] : []),
  ]);
}

/**
 * Fails the `reservation` update (non-retryably, `RequestMismatch`) unless its caller sends the request hash this
 * order was started from: POST /orders with a reused Idempotency-Key and another body, or an update typed by hand whose
 * payload could not be decoded. Arguments are read leniently.
 */
export function requireSameRequest(input: Pick<OrderWorkflowInput, 'requestHash'>): (args: unknown) => void {
  return (args) => {
    if (isUndecodable(args)) {
      throw ApplicationFailure.create({
        type: UNDECODABLE_UPDATE_FAILURE,
        message: `the update's payload could not be decoded (${args.why})`,
        nonRetryable: true,
      });
    }
    const requestHash =
      typeof args === 'object' && args !== null ? (args as { requestHash?: unknown }).requestHash : undefined;
    if (requestHash !== input.requestHash) {
      throw ApplicationFailure.create({
        type: REQUEST_MISMATCH_FAILURE,
        message: 'this order was created from a different request',
        nonRetryable: true,
      });
    }
  };
}

/** What the saga's handlers act on. */
export interface OrderHandlers {
  input: OrderWorkflowInput;
  /** The live view the `status` query returns. */
  view: OrderStatusView;
  /** The reservation once decided; the `reservation` update waits for it. */
  reservation: () => ReservationOutcome | undefined;
  /** Takes a cancel (a signal's normalised reason, or Temporal's cancellation request). */
  requestCancel: (reason: string) => void | Promise<void>;
}

/** Set by `retryPayment` while the order is NEEDS_ATTENTION (ignored, and logged, in any other status). */
export interface RetryRequest {
  requested: boolean;
}

/** Registers the query, signals, update and cancellation hook of an order workflow; returns the retry request. */
export function setOrderHandlers({ input, view, reservation, requestCancel }: OrderHandlers): RetryRequest {
  const { orderId } = input;
  const retry: RetryRequest = { requested: false };
  setHandler(statusQuery, () => view);
  setHandler(cancelSignal, (args) => requestCancel(cancelReasonFrom(args, orderId) ?? CANCEL_REASONS.signal));
  setHandler(retryPaymentSignal, (args?: unknown) => {
    warnUndecodable('retryPayment', args, orderId);
    if (view.status === 'NEEDS_ATTENTION') retry.requested = true;
    else log.info('retryPayment ignored outside NEEDS_ATTENTION', { orderId, status: view.status });
  });
  setHandler(
    reservationUpdate,
    async () => {
      await condition(() => reservation() !== undefined);
      return reservation() as ReservationOutcome;
    },
    { validator: requireSameRequest(input) },
  );
  CancellationScope.current().cancelRequested.catch(() => requestCancel(CANCEL_REASONS.temporalCancel));
  return retry;
}

/**
 * Takes a cancel into `view` unless one was taken already, the stock is being committed (`committing`) or the order
 * ended: a cancel then changes nothing. Returns whether it was taken; logs it when it was.
 */
export function takeCancel(view: OrderStatusView, orderId: string, reason: string, committing: boolean): boolean {
  if (view.cancelRequested || committing || isTerminal(view.status)) return false;
  view.cancelRequested = true;
  log.info('cancel requested', { orderId, status: view.status, reason });
  return true;
}

/**
 * NEEDS_ATTENTION's wait for an operator: until `retryPayment` (`retry.requested`) or a cancel, at most `timeoutMs`
 * (the order's `attentionTimeoutMs`). When the time runs out first, the order is cancelled: the cancel is taken into
 * `view` and its reason, ATTENTION_TIMEOUT_REASON, returned; otherwise undefined. One condition timer either way.
 */
export async function awaitOperator(
  retry: RetryRequest,
  view: OrderStatusView,
  timeoutMs: number,
): Promise<string | undefined> {
  if (await condition(() => retry.requested || view.cancelRequested, timeoutMs)) return undefined;
  view.cancelRequested = true;
  return ATTENTION_TIMEOUT_REASON;
}

/**
 * Runs a saga to its end whatever cancellation is requested (a cancel is a flag the saga checks between steps, so a
 * step in flight finishes and compensations always run), then waits for running handlers before completing.
 */
export function runToEnd<R>(saga: () => Promise<R>): Promise<R> {
  return CancellationScope.nonCancellable(async () => {
    const result = await saga();
    await condition(allHandlersFinished);
    return result;
  });
}
