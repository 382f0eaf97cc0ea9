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
 * duplicates by seq). A stale retry of an older seq never moves `orders.status` backwards.
 */
import { ApplicationFailure } from '@temporalio/common';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { publishOrderEvent, type OrderEvent } from '../lib/events';
import type { Logger } from '../lib/logger';
import type { OrderStatus } from '../workflows/definitions';
import {
  ACTIVITY_FAILURE_TYPES,
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

/** An `orders` row. */
interface OrderRow {
  id: string;
  customer_id: string;
  status: OrderStatus;
  total_cents: string | number;
  currency: string;
  idempotency_key: string | null;
  request_hash: string;
  workflow_id: string;
  failure_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/** An `order_events` row. */
interface EventRow {
  id: string;
  order_id: string;
  seq: number;
  status: OrderStatus;
  detail: Record<string, unknown>;
  created_at: Date;
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
    const row = await db.transaction(async (trx) => {
      // No conflict target: the id, the workflow id and (customer, idempotency key) are all unique.
      await trx<OrderRow>(TABLES.orders)
        .insert({
          id: input.orderId,
          customer_id: input.customerId,
          status: 'PENDING' satisfies OrderStatus,
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
        throw ApplicationFailure.create({
          message: `order ${input.orderId} conflicts with an existing order (same workflow id or idempotency key)`,
          type: ACTIVITY_FAILURE_TYPES.orderConflict,
          nonRetryable: true,
        });
      }
      return (await storeEvent(trx, input.orderId, PENDING_EVENT_SEQ, 'PENDING', detail)).row;
    });
    await publish(toOrderEvent(input.orderId, input.customerId, row));
    return { seq: row.seq, at: row.created_at.toISOString() };
  }

  /**
   * Records one transition: the event (keyed by order and seq) and, if it is the newest, the order's status, total
   * and failure reason, in one transaction; then publishes the stored event. A retry writes nothing new.
   */
  async function recordStatus(input: RecordStatusInput): Promise<RecordStatusResult> {
    const { orderId, seq, status } = input;
    if (!Number.isInteger(seq) || seq <= PENDING_EVENT_SEQ) {
      throw ApplicationFailure.create({
        message: `seq must be an integer above ${PENDING_EVENT_SEQ} (recordOrder writes seq ${PENDING_EVENT_SEQ})`,
        type: ACTIVITY_FAILURE_TYPES.invalidInput,
        nonRetryable: true,
      });
    }
    const { customerId, row } = await db.transaction(async (trx) => {
      // The order row lock serialises the transitions of one order, so "is this the newest seq" cannot race.
      const order = await trx<OrderRow>(TABLES.orders).where({ id: orderId }).forUpdate().first('customer_id');
      if (order === undefined) {
        throw ApplicationFailure.create({
          message: `order ${orderId} has not been recorded; call recordOrder first`,
          type: ACTIVITY_FAILURE_TYPES.orderNotRecorded,
          nonRetryable: true,
        });
      }
      const stored = await storeEvent(trx, orderId, seq, status, input.detail ?? {});
      if (!stored.inserted) {
        if (stored.row.status !== status) {
          logger.warn('recordStatus retried with another status; keeping the stored event', {
            orderId,
            seq,
            stored: stored.row.status,
            requested: status,
          });
        }
        return { customerId: order.customer_id, row: stored.row };
      }
      const newer = await trx<EventRow>(TABLES.orderEvents)
        .where({ order_id: orderId })
        .andWhere('seq', '>', seq)
        .first('seq');
      if (newer === undefined) {
        await trx<OrderRow>(TABLES.orders)
          .where({ id: orderId })
          .update({
            status,
            updated_at: trx.fn.now(),
            ...(input.totalCents === undefined ? {} : { total_cents: input.totalCents }),
            ...(input.failureReason === undefined ? {} : { failure_reason: input.failureReason }),
          });
      }
      return { customerId: order.customer_id, row: stored.row };
    });
    await publish(toOrderEvent(orderId, customerId, row));
    return { seq: row.seq, at: row.created_at.toISOString() };
  }

  return { recordOrder, recordStatus };
}
