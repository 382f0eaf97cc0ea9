/**
 * Row types of the order tables (migrations/), declared once for every reader and writer: the activities write them,
 * the API, relay, chaos checks and tests read them. A query that selects fewer columns narrows with `Pick<>`.
 * `bigint` columns arrive from pg as strings (read money with lib/money.ts `exactCents`); writers pass numbers.
 */
import type { OrderStatus } from '../workflows/definitions';

/** An `orders` row: one order and its current status. */
export interface OrderRow {
  id: string;
  customer_id: string;
  /** Only the saga writes it; readers that must survive a newer writer narrow it again (api/order-store `asStatus`). */
  status: OrderStatus;
  total_cents: string | number;
  currency: string;
  idempotency_key: string | null;
  request_hash: string;
  workflow_id: string;
  failure_reason: string | null;
  /** The seq of the event `status` was last set from; a late retry of an older event never moves it back. */
  status_seq: number;
  /** The workflow run for which a cancel was accepted; that run's charge then charges nothing. */
  cancel_requested_run_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** An `order_events` row: one recorded status of an order, replayed by the relay. */
export interface EventRow {
  /** `bigserial`, so a string. */
  id: string;
  order_id: string;
  /** 1, 2, … per order, in recording order. */
  seq: number;
  status: OrderStatus;
  detail: Record<string, unknown>;
  /** `<runId>/<step>/<STATUS>`: the recording's idempotency key; null on events recorded before keys existed. */
  event_key: string | null;
  created_at: Date;
}

/** `payments.status` values. */
export const PAYMENT_STATUS = { approved: 'approved', declined: 'declined', refunded: 'refunded' } as const;

/** A `payments.status` value. */
export type PaymentStatus = (typeof PAYMENT_STATUS)[keyof typeof PAYMENT_STATUS];

/** A `payments` row: the simulated gateway's ledger, one stored result per idempotency key. */
export interface PaymentRow {
  id: number;
  idempotency_key: string;
  order_id: string;
  amount_cents: string | number;
  status: PaymentStatus;
  /** Gateway attempts the stored result took (retries included). */
  attempts: number;
  card_fingerprint: string;
  decline_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/** `stock_reservations.status` values: held by a running order, committed by a completed one, released otherwise. */
export const RESERVATION_STATUS = { held: 'held', committed: 'committed', released: 'released' } as const;

/** A `stock_reservations` row: the stock one order holds of one product. */
export interface ReservationRow {
  order_id: string;
  product_id: number;
  quantity: number;
  status: (typeof RESERVATION_STATUS)[keyof typeof RESERVATION_STATUS];
  created_at: Date;
  updated_at: Date;
}
