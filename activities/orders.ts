/**
 * The order record and its history: `orders` (current status) and `order_events` (the outbox the realtime relay and
 * replays read), then a publish to the Redis events stream.
 *
 * Sequence numbers — the contract with the workflow:
 * - `recordOrder` writes the order row AND its first event, seq 1 (`PENDING_EVENT_SEQ`) PENDING, in one transaction,
 *   publishes that event, and returns it as `{ seq: 1, at }`. The workflow does NOT record PENDING itself.
 * - Every later transition is one `recordStatus` call whose `seq` the workflow assigns: 2, 3, ... in order.
 *
 * Both are idempotent: rows are keyed by the order id and (order id, seq), inserted with ON CONFLICT DO NOTHING, and
 * a retry returns the event as first stored and publishes it again (delivery is at least once; clients drop
 * duplicates by seq). A stale retry of an older seq never moves `orders.status` backwards: `orders.status_seq` holds
 * the seq the status was set from, and the status moves only to a higher one.
 *
 * Each has a fast path of one SQL statement (one round trip, no explicit transaction) for the common case, a first
 * call; anything else (a retry, a conflict, a missing order) falls back to a transaction that reads what is stored
 * and says why. The bookkeeping runs on every transition of every order, so the round trips count (docs/benchmarks.md).
 */
import { ApplicationFailure } from '@temporalio/common';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { publishOrderEvent, type OrderEvent } from '../lib/events';
import type { Logger } from '../lib/logger';
import type { EventRow, OrderRow } from '../lib/rows';
import type { OrderStatus } from '../workflows/definitions';
import {
  ACTIVITY_FAILURE_TYPES,
  orderConflictFailure,
  orderNotRecordedFailure,
  PENDING_EVENT_SEQ,
  type RecordOrderInput,
  type RecordOrderResult,
  type RecordStatusInput,
  type RecordStatusResult,
} from './contract';

/** Dependencies of the order record activities. */
export interface OrderRecordDeps {
  db: Knex;
  redis: Redis;
  redisKeyPrefix: string;
  logger: Logger;
}

const EVENT_COLUMNS = ['seq', 'status', 'detail', 'created_at'] as const;

type StoredEvent = Pick<EventRow, (typeof EVENT_COLUMNS)[number]>;

function toOrderEvent(orderId: string, customerId: string, row: StoredEvent): OrderEvent {
  return {
    orderId,
    customerId,
    seq: row.seq,
    status: row.status,
    at: row.created_at.toISOString(),
    detail: row.detail,
  };
}

/** Inserts one event unless its (order, seq) exists; returns the row as stored, whichever call stored it. */
async function storeEvent(
  trx: Knex.Transaction,
  orderId: string,
  seq: number,
  status: OrderStatus,
  detail: Record<string, unknown>,
): Promise<{ row: StoredEvent; inserted: boolean }> {
  const inserted = await trx<EventRow>(TABLES.orderEvents)
    .insert({ order_id: orderId, seq, status, detail })
    .onConflict(['order_id', 'seq'])
    .ignore()
    .returning([...EVENT_COLUMNS]);
  const row =
    inserted[0] ??
    (await trx<EventRow>(TABLES.orderEvents)
      .where({ order_id: orderId, seq })
      .first(...EVENT_COLUMNS));
  if (row === undefined) throw new Error(`event ${seq} of order ${orderId} vanished after a conflicting insert`);
  return { row, inserted: inserted.length > 0 };
}

/** Builds `recordOrder` and `recordStatus`. */
export function createOrderActivities({ db, redis, redisKeyPrefix, logger }: OrderRecordDeps) {
  const publish = async (event: OrderEvent): Promise<void> => {
    // After commit, never inside the transaction: a subscriber must always find the event it hears about in the DB.
    await publishOrderEvent(redis, redisKeyPrefix, event);
  };

  /**
   * Creates the order (PENDING, total 0 until reserved) and its seq 1 PENDING event; a retry changes nothing and
   * returns the same event. Fails non-retryably if another order already holds the workflow id or idempotency key.
   */
  async function recordOrder(input: RecordOrderInput): Promise<RecordOrderResult> {
    const detail: Record<string, unknown> = { lines: input.lines };
    const row = (await insertNewOrder(input, detail)) ?? (await recordOrderAgain(input, detail));
    await publish(toOrderEvent(input.orderId, input.customerId, row));
    return { seq: row.seq, at: row.created_at.toISOString() };
  }

  /** Fast path: the order and its PENDING event in one statement; undefined if the order (or its id) exists. */
  async function insertNewOrder(input: RecordOrderInput, detail: Record<string, unknown>) {
    const result = await db.raw<{ rows: StoredEvent[] }>(
      `WITH new_order AS (
         INSERT INTO ${TABLES.orders}
           (id, customer_id, status, status_seq, total_cents, currency, idempotency_key, request_hash, workflow_id)
         VALUES (?, ?, 'PENDING', ?, 0, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING
         RETURNING id
       )
       INSERT INTO ${TABLES.orderEvents} (order_id, seq, status, detail)
       SELECT id, ?, 'PENDING', ?::jsonb FROM new_order
       ON CONFLICT (order_id, seq) DO NOTHING
       RETURNING ${EVENT_COLUMNS.join(', ')}`,
      [
        input.orderId,
        input.customerId,
        PENDING_EVENT_SEQ,
        input.currency,
        input.idempotencyKey ?? null,
        input.requestHash,
        input.workflowId,
        PENDING_EVENT_SEQ,
        JSON.stringify(detail),
      ],
    );
    return result.rows[0];
  }

  /** Slow path: a retry (returns the stored event) or a conflict with another order (fails non-retryably). */
  async function recordOrderAgain(input: RecordOrderInput, detail: Record<string, unknown>): Promise<StoredEvent> {
    return db.transaction(async (trx) => {
      // No conflict target: the id, the workflow id and (customer, idempotency key) are all unique.
      await trx<OrderRow>(TABLES.orders)
        .insert({
          id: input.orderId,
          customer_id: input.customerId,
          status: 'PENDING' satisfies OrderStatus,
          status_seq: PENDING_EVENT_SEQ,
          total_cents: 0,
          currency: input.currency,
          idempotency_key: input.idempotencyKey ?? null,
          request_hash: input.requestHash,
          workflow_id: input.workflowId,
        })
        .onConflict()
        .ignore();
      const order = await trx<OrderRow>(TABLES.orders).where({ id: input.orderId }).first('customer_id');
      if (order === undefined || order.customer_id !== input.customerId) {
        throw orderConflictFailure(input.orderId);
      }
      return (await storeEvent(trx, input.orderId, PENDING_EVENT_SEQ, 'PENDING', detail)).row;
    });
  }

  /**
   * Records one transition: the event (keyed by order and seq) and, if it is the newest, the order's status, total
   * and failure reason, atomically; then publishes the stored event. A retry writes nothing new.
   */
  async function recordStatus(input: RecordStatusInput): Promise<RecordStatusResult> {
    const { orderId, seq } = input;
    if (!Number.isInteger(seq) || seq <= PENDING_EVENT_SEQ) {
      throw ApplicationFailure.create({
        message: `seq must be an integer above ${PENDING_EVENT_SEQ} (recordOrder writes seq ${PENDING_EVENT_SEQ})`,
        type: ACTIVITY_FAILURE_TYPES.invalidInput,
        nonRetryable: true,
      });
    }
    const { customerId, row } = (await insertTransition(input)) ?? (await recordTransitionAgain(input));
    await publish(toOrderEvent(orderId, customerId, row));
    return { seq: row.seq, at: row.created_at.toISOString() };
  }

  /**
   * Fast path: the new event, and the order's status if this seq is the newest, in one statement. Undefined when the
   * event is already stored (a retry) or the order is unknown.
   */
  async function insertTransition(input: RecordStatusInput) {
    const { orderId, seq, status } = input;
    const result = await db.raw<{ rows: (StoredEvent & { customer_id: string })[] }>(
      `WITH event AS (
         INSERT INTO ${TABLES.orderEvents} (order_id, seq, status, detail)
         SELECT id, ?, ?, ?::jsonb FROM ${TABLES.orders} WHERE id = ?
         ON CONFLICT (order_id, seq) DO NOTHING
         RETURNING order_id, ${EVENT_COLUMNS.join(', ')}
       ), moved AS (
         UPDATE ${TABLES.orders}
         SET status = ?, status_seq = ?, updated_at = now(),
             total_cents = COALESCE(?::bigint, total_cents), failure_reason = COALESCE(?::text, failure_reason)
         WHERE id = (SELECT order_id FROM event) AND status_seq < ?
         RETURNING id
       )
       SELECT o.customer_id, ${EVENT_COLUMNS.map((column) => `event.${column}`).join(', ')}
       FROM event JOIN ${TABLES.orders} o ON o.id = event.order_id`,
      [
        seq,
        status,
        JSON.stringify(input.detail ?? {}),
        orderId,
        status,
        seq,
        input.totalCents ?? null,
        input.failureReason ?? null,
        seq,
      ],
    );
    const [found] = result.rows;
    if (found === undefined) return undefined;
    const { customer_id: customerId, ...row } = found;
    return { customerId, row };
  }

  /** Slow path: a retry returns the event as first stored; an unknown order fails non-retryably. */
  async function recordTransitionAgain(input: RecordStatusInput) {
    const { orderId, seq, status } = input;
    return db.transaction(async (trx) => {
      const order = await trx<OrderRow>(TABLES.orders).where({ id: orderId }).forUpdate().first('customer_id');
      if (order === undefined) {
        throw orderNotRecordedFailure(orderId, 'call recordOrder first');
      }
      const stored = await storeEvent(trx, orderId, seq, status, input.detail ?? {});
      if (stored.inserted) {
        // Stored between the fast path and this transaction (a concurrent retry lost the race to it).
        await trx<OrderRow>(TABLES.orders)
          .where({ id: orderId })
          .andWhere('status_seq', '<', seq)
          .update({
            status,
            status_seq: seq,
            updated_at: trx.fn.now(),
            ...(input.totalCents === undefined ? {} : { total_cents: input.totalCents }),
            ...(input.failureReason === undefined ? {} : { failure_reason: input.failureReason }),
          });
      } else if (stored.row.status !== status) {
        logger.warn('recordStatus retried with another status; keeping the stored event', {
          orderId,
          seq,
          stored: stored.row.status,
          requested: status,
        });
      }
      return { customerId: order.customer_id, row: stored.row };
    });
  }

  return { recordOrder, recordStatus };
}
