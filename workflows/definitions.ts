/**
 * The one contract of the order saga: task queue, workflow type and id, signals, query, update, statuses, search
 * attributes and the input/result types. Imported by the workflow, the worker, the API and the tests alike; no name
 * defined here is spelled out anywhere else.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** Default task queue the workers poll; overridable by `TEMPORAL_TASK_QUEUE` (tests use their own). */
export const TASK_QUEUE = 'orders';

/** Currency of every order (the API takes no currency yet); an input without one means this. */
export const DEFAULT_CURRENCY = 'USD';

/**
 * `patched()` id of the saga's local-activity bookkeeping (workflows/order.ts); the bench's floor workflow follows the
 * same shape.
 */
export const LOCAL_BOOKKEEPING_PATCH = 'local-bookkeeping-steps';

/** Workflow type name (the exported function in `workflows/order.ts`). */
export const WORKFLOW_TYPE = 'orderWorkflow';

/** Workflow id of an order: one workflow per order. */
export function workflowIdFor(orderId: string): string {
  return `order-${orderId}`;
}

/** Payment idempotency key of an order: derived from the order id, so every retry and replay charges the same key. */
export function paymentIdempotencyKey(orderId: string): string {
  return `payment-${orderId}`;
}

/**
 * `patched()` id of the lean saga (workflows/order.ts): a happy order in 3 workflow tasks and 2 activity tasks, every
 * step recording its own statuses. Orders started before it finish on `orderSagaV1` (workflows/order-v1.ts).
 */
export const LEAN_SAGA_PATCH = 'lean-saga';

/**
 * `patched()` id of the lean saga whose charge also completes the order (workflows/order.ts): a happy order in 2
 * workflow tasks and 1 activity task. Lean orders started before it keep a separate `completeOrder` step.
 */
export const COMMIT_WITH_CHARGE_PATCH = 'commit-with-charge';

/**
 * `patched()` id of a run ending with the terminal status its charge met (`closedAs`, workflows/order.ts) instead of
 * compensating: the charge is a regular activity, so a worker without this code may have compensated on a result
 * that carried it, and a history recorded so must replay that way.
 */
export const CHARGE_CLOSED_AS_PATCH = 'charge-closed-as';

/** Cancel reasons recorded when the canceller gave none. */
export const CANCEL_REASONS = {
  /** A `cancel` signal (API, CLI, UI) without a usable reason. */
  signal: 'cancel_requested',
  /** A Temporal workflow cancellation request ("Cancel" in the UI). */
  temporalCancel: 'workflow_cancel_requested',
} as const;

/** Cancel reason recorded when NEEDS_ATTENTION waited `attentionTimeoutMs` without an operator decision. */
export const ATTENTION_TIMEOUT_REASON = 'attention_timeout';

/** Every status an order can be in (docs/design.md, Statuses). */
export const ORDER_STATUSES = [
  'PENDING',
  'RESERVED',
  'CHARGING',
  'NEEDS_ATTENTION',
  'PAID',
  'COMPLETED',
  'REJECTED',
  'FAILED',
  'CANCELLED',
] as const;

/** An order status. */
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Statuses after which nothing changes. */
export const TERMINAL_STATUSES: readonly OrderStatus[] = ['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED'];

/** Statuses in which a cancel no longer has any effect (the API answers 409 not_cancellable). */
export const NOT_CANCELLABLE_STATUSES: readonly OrderStatus[] = ['COMPLETED', 'REJECTED', 'FAILED'];

/** True once an order can no longer change. */
export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** One line of an order as the customer asked for it. */
export interface OrderLine {
  sku: string;
  quantity: number;
}

/** One line of an order as reserved, with its price fixed at reservation time. */
export interface PricedLine extends OrderLine {
  productId: number;
  unitPriceCents: number;
}

/** A line that could not be reserved because there was not enough stock. */
export interface Shortage {
  sku: string;
  requested: number;
  available: number;
}

/** Why a reservation was refused. */
export type RejectionReason = 'insufficient_stock' | 'unknown_sku' | 'product_unavailable';

/** Outcome of the reservation step (activity result and `reservation` update result). */
export type ReservationOutcome =
  | { status: 'RESERVED'; totalCents: number; lines: PricedLine[] }
  | {
      status: 'REJECTED';
      reason: RejectionReason;
      shortages?: Shortage[];
      unknownSkus?: string[];
      /** Draft or archived SKUs (`product_unavailable`). */
      unavailableSkus?: string[];
    };

/** The payment retry budget, fixed per order at start so a change of config never alters a running order. */
export interface PaymentRetryPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  maximumAttempts: number;
}

/** Saga settings carried in the workflow input (workflow code cannot read config). */
export interface SagaSettings {
  paymentRetry: PaymentRetryPolicy;
  /** How long NEEDS_ATTENTION waits for an operator before cancelling the order. */
  attentionTimeoutMs: number;
  /**
   * Start-to-close timeout of one charge attempt; a worker that dies mid-charge is detected after this long.
   * @default 10000
   */
  chargeTimeoutMs?: number;
}

/** Input of `orderWorkflow`. */
export interface OrderWorkflowInput {
  orderId: string;
  customerId: string;
  lines: OrderLine[];
  /** Opaque payment token from the client; never stored in our database (a fingerprint only). */
  paymentToken: string;
  /** Hash of the normalised request body; a repeat with the same idempotency key must carry the same hash. */
  requestHash: string;
  idempotencyKey?: string;
  currency?: string;
  settings: SagaSettings;
}

/** Payment progress as shown by the `status` query. */
export interface PaymentState {
  status: 'none' | 'charging' | 'approved' | 'declined' | 'unavailable' | 'refunded';
  idempotencyKey: string;
  amountCents?: number;
  lastError?: string;
}

/** One recorded transition, as kept in the workflow and in `order_events`. */
export interface StatusEvent {
  seq: number;
  status: OrderStatus;
  at: string;
  detail: Record<string, unknown>;
}

/** Result of the `status` query. */
export interface OrderStatusView {
  status: OrderStatus;
  events: StatusEvent[];
  payment: PaymentState;
  /** Payment rounds started (1 + operator retries). */
  attempts: number;
  cancelRequested: boolean;
}

/** Final result of `orderWorkflow`; a cancelled order ends normally with CANCELLED. */
export interface OrderWorkflowResult {
  orderId: string;
  status: Extract<OrderStatus, 'COMPLETED' | 'REJECTED' | 'FAILED' | 'CANCELLED'>;
  reason?: string;
}

/** Argument of the `cancel` signal. */
export interface CancelSignalArgs {
  reason?: string;
}

/** Argument of the `reservation` update: the caller's request hash, checked against the workflow input. */
export interface ReservationUpdateArgs {
  requestHash: string;
}

/** Signal: cancel the order (customer or operator). */
export const cancelSignal = defineSignal<[CancelSignalArgs?]>('cancel');

/** Signal: an operator asks a NEEDS_ATTENTION order to charge again with the same idempotency key. */
export const retryPaymentSignal = defineSignal('retryPayment');

/** Query: the order's current status, events, payment and attempts. */
export const statusQuery = defineQuery<OrderStatusView>('status');

/** Update: waits until the reservation is decided; used with update-with-start by POST /orders. */
export const reservationUpdate = defineUpdate<ReservationOutcome, [ReservationUpdateArgs]>('reservation');

/** Application failure type when a reservation update carries another request's hash. */
export const REQUEST_MISMATCH_FAILURE = 'IdempotencyKeyReused';

/** Application failure type when a reservation update's payload cannot be decoded (typed by hand, wrong codec key). */
export const UNDECODABLE_UPDATE_FAILURE = 'UndecodableUpdatePayload';

/** Search attributes upserted on every transition so operators can filter in the Temporal UI. */
export const SEARCH_ATTRIBUTES = {
  orderStatus: defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD),
  customerId: defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD),
  orderTotalCents: defineSearchAttributeKey('OrderTotalCents', SearchAttributeType.INT),
} as const;

/** Application failure types raised by activities, stable so the workflow and tests can match on them. */
export const FAILURE_TYPES = {
  paymentDeclined: 'PaymentDeclined',
  paymentUnavailable: 'PaymentGatewayUnavailable',
} as const;
