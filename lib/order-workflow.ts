/**
 * The client side of the order workflow's Temporal contract (the API's, and the bench's that places orders the same
 * way): start an order with update-with-start and wait for the reservation, or signal a cancel or a payment retry.
 * Temporal's errors are classified here into the API's error codes.
 */
import {
  ApplicationFailure,
  isGrpcServiceError,
  ServiceError,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import type { Config } from './config';
import {
  cancelSignal,
  DEFAULT_CURRENCY,
  REQUEST_MISMATCH_FAILURE,
  reservationUpdate,
  retryPaymentSignal,
  SEARCH_ATTRIBUTES,
  WORKFLOW_TYPE,
  workflowIdFor,
  type OrderWorkflowInput,
  type ReservationOutcome,
} from '../workflows/definitions';
import { ApiError, serviceUnavailable } from './http/errors';

/** gRPC status codes that mean "Temporal is not answering right now" (UNAVAILABLE, DEADLINE_EXCEEDED, ...). */
const UNAVAILABLE_CODES = new Set([
  1, // CANCELLED
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  14, // UNAVAILABLE
]);

/** True when the error means Temporal could not be reached or did not answer in time. */
export function isTemporalUnavailable(error: unknown): boolean {
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  if (isGrpcServiceError(error)) return UNAVAILABLE_CODES.has(error.code);
  if (error instanceof ServiceError) return error.cause !== undefined && isTemporalUnavailable(error.cause);
  return false;
}

/** Settings of Temporal calls made on behalf of one request. */
export interface TemporalCallOptions {
  /** Deadline of the whole call, after which the API answers 503. */
  timeoutMs: number;
  /** Retry-After sent with that 503. */
  retryAfterSeconds: number;
}

/** Runs `fn` under a deadline and turns "Temporal unreachable" into 503 + Retry-After. */
export async function callTemporal<T>(client: Client, options: TemporalCallOptions, fn: () => Promise<T>): Promise<T> {
  try {
    return await client.withDeadline(Date.now() + options.timeoutMs, fn);
  } catch (error) {
    if (isTemporalUnavailable(error)) {
      throw serviceUnavailable('the order service is unavailable; retry later', options.retryAfterSeconds);
    }
    throw error;
  }
}

/** What `startOrder` learned. */
type StartOrderResult =
  | { kind: 'decided'; outcome: ReservationOutcome }
  /** The order's workflow has already finished: answer from the database. */
  | { kind: 'closed' };

/** The workflow input of a new order, with the saga settings fixed from config at start. */
export function workflowInput(
  config: Config,
  order: Omit<OrderWorkflowInput, 'settings' | 'currency'>,
): OrderWorkflowInput {
  return {
    ...order,
    currency: DEFAULT_CURRENCY,
    settings: { paymentRetry: { ...config.paymentRetry }, attentionTimeoutMs: config.attentionTimeoutMs },
  };
}

/**
 * Temporal user metadata shown by the Web UI without decoding payloads: a one-line summary and the order's lines.
 * Never the payment token (payloads stay encrypted; this text does not).
 */
function orderMetadata(input: OrderWorkflowInput): { staticSummary: string; staticDetails: string } {
  const units = input.lines.reduce((sum, line) => sum + line.quantity, 0);
  const lines = input.lines.map((line) => `| ${line.sku} | ${line.quantity} |`);
  return {
    staticSummary: `Order for ${input.customerId}: ${units} unit(s) in ${input.lines.length} line(s)`,
    staticDetails: [
      `**Order** \`${input.orderId}\` for customer \`${input.customerId}\``,
      '',
      '| SKU | Quantity |',
      '| --- | --- |',
      ...lines,
      '',
      'Prices and the total are fixed at reservation: see the current details and the `OrderTotalCents` attribute.',
    ].join('\n'),
  };
}

/**
 * The start half of an order's update-with-start: the workflow id `order-<orderId>` (one saga per order, an existing
 * one reused, a closed one never started again), `OrderStatus=PENDING` and `CustomerId`, and the UI's summary and
 * details. `workflowType` and `workflowId` let the bench start its no-op copies of the saga exactly like an order.
 */
export function orderStartOperation(
  input: OrderWorkflowInput,
  {
    taskQueue,
    workflowType = WORKFLOW_TYPE,
    workflowId = workflowIdFor(input.orderId),
  }: { taskQueue: string; workflowType?: string; workflowId?: string },
) {
  return new WithStartWorkflowOperation(workflowType, {
    workflowId,
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.orderStatus, value: 'PENDING' },
      { key: SEARCH_ATTRIBUTES.customerId, value: input.customerId },
    ],
    ...orderMetadata(input),
  });
}

/**
 * Starts the order's workflow (or joins the running one: `USE_EXISTING`) and waits for the `reservation` update.
 * The update id is derived from the request hash, so concurrent retries of one request share one update. A closed
 * workflow is never started again (`REJECT_DUPLICATE`): the caller answers from the database instead.
 */
export async function startOrder(
  client: Client,
  config: Config,
  input: OrderWorkflowInput,
  options: TemporalCallOptions,
): Promise<StartOrderResult> {
  const startWorkflowOperation = orderStartOperation(input, { taskQueue: config.temporal.taskQueue });
  try {
    const outcome = await callTemporal(client, options, () =>
      client.workflow.executeUpdateWithStart(reservationUpdate, {
        args: [{ requestHash: input.requestHash }],
        updateId: `reservation-${input.requestHash}`,
        startWorkflowOperation,
      }),
    );
    return { kind: 'decided', outcome };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { kind: 'closed' };
    if (
      error instanceof WorkflowUpdateFailedError &&
      error.cause instanceof ApplicationFailure &&
      error.cause.type === REQUEST_MISMATCH_FAILURE
    ) {
      throw idempotencyKeyReused(input.orderId);
    }
    throw error;
  }
}

/** 422: the key was used before for another body. */
export function idempotencyKeyReused(orderId: string): ApiError {
  return new ApiError(
    'idempotency_key_reused',
    'this Idempotency-Key was already used with a different request body; use a new key for a new order',
    { orderId },
  );
}

/** Sends `signal` to the order's workflow; false when the workflow has already finished. */
async function signalOrder<Args extends unknown[]>(
  client: Client,
  orderId: string,
  options: TemporalCallOptions,
  signal: SignalDefinition<Args>,
  ...args: Args
): Promise<boolean> {
  try {
    await callTemporal(client, options, () =>
      client.workflow.getHandle(workflowIdFor(orderId)).signal(signal, ...args),
    );
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

/** Sends the cancel signal; false when the workflow has already finished. */
export function signalCancel(
  client: Client,
  orderId: string,
  reason: string,
  options: TemporalCallOptions,
): Promise<boolean> {
  return signalOrder(client, orderId, options, cancelSignal, { reason });
}

/** Sends the `retryPayment` signal (what the Temporal UI sends); false when the workflow has already finished. */
export function signalRetryPayment(client: Client, orderId: string, options: TemporalCallOptions): Promise<boolean> {
  return signalOrder(client, orderId, options, retryPaymentSignal);
}
