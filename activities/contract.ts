/**
 * Argument and result types of the saga's activities. The workflow imports these (types only) together with
 * `typeof createActivities`; the implementations live in `saga-steps.ts` (the lean saga) and, for
 * orders started before it, `inventory.ts`, `payments.ts` and `orders.ts`.
 */
import { ApplicationFailure } from '@temporalio/common';
import type {
  OrderLine,
  OrderStatus,
  OrderWorkflowResult,
  ReservationOutcome,
  StatusEvent,
} from '../workflows/definitions';

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
  /** `completeOrder` found neither held nor committed stock (something released it under a running order). */
  reservationLost: 'ReservationLost',
  /**
   * `compensateOrder` with `ifLastSeq`: the order's newest event is no longer that one (a run recorded something
   * since the caller looked, e.g. a Reset run placing it again); nothing was changed.
   */
  orderChanged: 'OrderChanged',
} as const;

/**
 * Non-retryable: a placement's `requestHash` is not the hash of its own lines and payment token (a run started by
 * hand with a copied or made-up hash); nothing is written.
 */
export function requestHashMismatchFailure(orderId: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `order ${orderId}: the request hash is not that of the run's lines and payment token`,
    type: ACTIVITY_FAILURE_TYPES.invalidInput,
    nonRetryable: true,
  });
}

/** Non-retryable: another order already holds this order's id, workflow id or (customer, idempotency key). */
export function orderConflictFailure(orderId: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `order ${orderId} conflicts with an existing order (same workflow id or idempotency key)`,
    type: ACTIVITY_FAILURE_TYPES.orderConflict,
    nonRetryable: true,
  });
}

/** Non-retryable: the step needs the order row, which does not exist (`hint` says what creates it). */
export function orderNotRecordedFailure(orderId: string, hint?: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `order ${orderId} has not been recorded${hint === undefined ? '' : `; ${hint}`}`,
    type: ACTIVITY_FAILURE_TYPES.orderNotRecorded,
    nonRetryable: true,
  });
}

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

// ---- The lean saga's steps (LEAN_SAGA_PATCH): each records its own statuses; docs/saga.md ----

/**
 * Every step below records statuses under an event key `<eventKeyPrefix>/<STATUS>`; the workflow derives the prefix
 * from its run id and a step counter, so a retried call finds its events and a Reset run's events are its own.
 */
export interface StepInput {
  orderId: string;
  /** `<runId>/<step>`: unique per workflow run and step; the idempotency key of the step's recordings. */
  eventKeyPrefix: string;
}

/**
 * Input of `placeOrder`: the order row (if new), its PENDING event and the reservation, in one transaction; the same
 * order fields as `recordOrder` of the shape before it.
 */
export interface PlaceOrderInput extends RecordOrderInput, StepInput {
  /** The order's payment token: with `lines` it must hash to `requestHash` (`requestHashOf`, lib/order-lines.ts). */
  paymentToken: string;
}

/** Result of `placeOrder`: the reservation as the `reservation` update answers it, and the status it recorded. */
export interface PlaceOrderResult {
  reservation: ReservationOutcome;
  /** RESERVED, REJECTED, or COMPLETED when a Reset run finds the order's stock already committed. */
  status: Extract<OrderStatus, 'RESERVED' | 'REJECTED' | 'COMPLETED'>;
  /** The events this call recorded (or found recorded by an earlier attempt), oldest first. */
  events: StatusEvent[];
}

/** Input of `chargeOrder`: one charge round; the idempotency key is derived from the payment ledger, not passed. */
export interface ChargeOrderInput extends StepInput {
  /** The workflow run charging: a cancel marked for it (`orders.cancel_requested_run_id`) means no charge. */
  runId: string;
  amountCents: number;
  paymentToken: string;
  /** Payment round (1 + operator retries), shown in the CHARGING event. */
  round: number;
  /**
   * Also complete the order once paid (patch `commit-with-charge`): in PAID's transaction, unless a cancel is marked
   * for this run, commit the held stock and record COMPLETED. Absent for runs of the earlier lean shape.
   */
  complete?: boolean;
}

/** Result of `chargeOrder`; transient gateway failures are thrown (retryable `PaymentGatewayUnavailable`). */
export type ChargeOrderResult =
  | {
      status: 'approved';
      idempotencyKey: string;
      amountCents: number;
      /** True when the order was completed with the payment (`complete` was asked and no cancel was marked). */
      completed?: boolean;
      events: StatusEvent[];
    }
  | { status: 'declined'; idempotencyKey: string; reason: string; events: StatusEvent[] }
  /**
   * Nothing charged, or nothing kept: a cancel was marked for this run before the charge started, the order was
   * already closed (terminal) when it started, or it was closed by another run while the gateway charged, which
   * this step then refunded or kept (migration 20261130130000). `closedAs` is the terminal status another run
   * recorded in the two closed cases: the run then ends with it and records nothing (absent in histories recorded
   * before it was added, and when a cancel was marked).
   */
  | { status: 'cancelled'; events: StatusEvent[]; closedAs?: OrderWorkflowResult['status'] };

/** Result of `completeOrder`: the COMPLETED event. */
export interface CompleteOrderResult {
  event: StatusEvent;
}

/** Input of `compensateOrder`: undo everything and record a terminal status. */
export interface CompensateOrderInput extends StepInput {
  status: Extract<OrderStatus, 'CANCELLED' | 'FAILED'>;
  /** Stored in `orders.failure_reason` (storable text, at most MAX_REASON_LENGTH characters). */
  reason: string;
  detail?: Record<string, unknown>;
  /**
   * Compensate only while the order's newest event has this seq (as HTTP's If-Match): the reconciliation pass passes
   * the seq it read before it saw the order's workflow closed, so a run started since (a Reset) that has recorded
   * anything keeps its order. Otherwise nothing changes and the call fails non-retryably (`OrderChanged`). Absent:
   * the order's own run, whose call is fenced by run instead (activities/saga-steps.ts `compensateOrder`).
   */
  ifLastSeq?: number;
}

/** Result of `compensateOrder`: COMPLETED when the stock was already committed (then nothing was undone). */
export interface CompensateOrderResult {
  status: Extract<OrderStatus, 'CANCELLED' | 'FAILED' | 'COMPLETED'>;
  /** Reservation lines this call returned to stock. */
  released: number;
  /** Approved payments this call refunded. */
  refunded: number;
  event: StatusEvent;
}

/** Input of `confirmTerminal`: the terminal status a run is about to end with. */
export interface ConfirmTerminalInput extends StepInput {
  status: Extract<OrderStatus, 'CANCELLED' | 'FAILED' | 'COMPLETED'>;
}

/** Result of `confirmTerminal`: the status the order really ends with, and the event recorded to say so, if any. */
export interface ConfirmTerminalResult {
  status: Extract<OrderStatus, 'CANCELLED' | 'FAILED' | 'COMPLETED'>;
  event?: StatusEvent;
}

/** Input of `recordTransition`: one status the workflow decided (NEEDS_ATTENTION). */
export interface RecordTransitionInput extends StepInput {
  status: OrderStatus;
  detail?: Record<string, unknown>;
}
