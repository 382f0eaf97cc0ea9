/**
 * Argument and result types of the saga's activities. The workflow imports these (types only) together with
 * `typeof createActivities`; the implementations live in `inventory.ts`, `payments.ts` and `orders.ts`.
 */
import type { OrderLine, OrderStatus, ReservationOutcome } from '../workflows/definitions';

/** Input of `recordOrder`: creates the order row and its PENDING event; a retry is a no-op. */
export interface RecordOrderInput {
  orderId: string;
  customerId: string;
  workflowId: string;
  lines: OrderLine[];
  requestHash: string;
  idempotencyKey?: string;
  currency: string;
}

/** Input of `reserveStock`. */
export interface ReserveStockInput {
  orderId: string;
  lines: OrderLine[];
}

/** Result of `reserveStock` (the same union the `reservation` update returns). */
export type ReserveStockResult = ReservationOutcome;

/** Input of `chargePayment`; the idempotency key is derived in the workflow, never generated here. */
export interface ChargePaymentInput {
  orderId: string;
  idempotencyKey: string;
  amountCents: number;
  paymentToken: string;
}

/** Result of an approved charge; declines and gateway errors are thrown as ApplicationFailures. */
export interface ChargePaymentResult {
  status: 'approved';
  amountCents: number;
  /** Gateway calls this charge took in total (retries included). */
  attempts: number;
}

/** Input of `refundPayment`. */
export interface RefundPaymentInput {
  idempotencyKey: string;
}

/** Result of `refundPayment`: `refunded` is false when there was nothing approved to refund. */
export interface RefundPaymentResult {
  refunded: boolean;
}

/** Input of `recordStatus`: the workflow assigns `seq`, so a retried call writes nothing new. */
export interface RecordStatusInput {
  orderId: string;
  seq: number;
  status: OrderStatus;
  detail?: Record<string, unknown>;
  /** Set on terminal failures; stored in `orders.failure_reason`. */
  failureReason?: string;
  /** Set once the total is known (after reservation). */
  totalCents?: number;
}

/** Result of `recordStatus`: the event as committed (its `at` is the commit time). */
export interface RecordStatusResult {
  seq: number;
  at: string;
}

/**
 * Non-retryable failure types for calls that can never succeed as made (a caller bug or a conflicting order), so a
 * retry loop never hides them. Business outcomes (rejections, declines) are not among them.
 */
export const ACTIVITY_FAILURE_TYPES = {
  /** Malformed arguments, e.g. a non-positive quantity or amount. */
  invalidInput: 'InvalidActivityInput',
  /** `reserveStock` or `recordStatus` ran before `recordOrder` created the order row. */
  orderNotRecorded: 'OrderNotRecorded',
  /** `recordOrder` hit another order with the same workflow id or (customer, idempotency key). */
  orderConflict: 'OrderConflict',
} as const;

/** `seq` of the PENDING event that `recordOrder` writes itself; the workflow's first `recordStatus` uses seq 2. */
export const PENDING_EVENT_SEQ = 1;

/** Result of `recordOrder`: the stored PENDING event (seq 1), the same on every retry. */
export type RecordOrderResult = RecordStatusResult;

/** Result of `releaseStock`: how many held reservation lines this call returned to stock (0 on a retry). */
export interface ReleaseStockResult {
  released: number;
}

/** Result of `commitStock`: how many held reservation lines this call committed (0 on a retry). */
export interface CommitStockResult {
  committed: number;
}
