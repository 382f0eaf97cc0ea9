import type Redis from 'ioredis';
import type { OrderStatus } from '../workflows/definitions';

/**
 * The realtime contract: the event every status change produces, and the Redis keys it travels through.
 * Events are appended to one Redis Stream per deployment (bounded by MAXLEN) so a relay that restarts resumes from
 * the last id it read; `order_events` in PostgreSQL stays the durable source for replays.
 */

/** One status change of one order, as stored in `order_events` and delivered to Socket.IO clients. */
export interface OrderEvent {
  orderId: string;
  customerId: string;
  seq: number;
  status: OrderStatus;
  /** ISO-8601 commit time. */
  at: string;
  detail: Record<string, unknown>;
}

/** Socket.IO event name for a status change. */
export const ORDER_STATUS_EVENT = 'order.status';

/** Socket.IO event a client sends to follow one order. */
export const SUBSCRIBE_EVENT = 'subscribe';

/** Approximate length the events stream is trimmed to (XADD MAXLEN ~). */
export const EVENTS_STREAM_MAXLEN = 100_000;

/** Redis key names, all under the deployment's prefix. */
export function redisKeys(prefix: string) {
  return {
    /** The stream every order event is appended to. */
    eventsStream: `${prefix}events`,
    /** The Socket.IO Redis Streams adapter's stream (relays joined into one cluster); its sessions share the prefix. */
    socketIo: `${prefix}socket.io`,
    /** Per-customer fixed-window rate limit counters. */
    rateLimit: (customerId: string, window: number) => `${prefix}ratelimit:${customerId}:${window}`,
  } as const;
}

/** Socket.IO room names. */
export const ROOMS = {
  customer: (customerId: string) => `customer:${customerId}`,
  order: (orderId: string) => `order:${orderId}`,
  admin: 'admin',
} as const;

/** Appends an event to the deployment's stream; at least once (a retried activity publishes again). */
export async function publishOrderEvent(redis: Redis, prefix: string, event: OrderEvent): Promise<string | null> {
  return redis.xadd(
    redisKeys(prefix).eventsStream,
    'MAXLEN',
    '~',
    String(EVENTS_STREAM_MAXLEN),
    '*',
    'event',
    JSON.stringify(event),
  );
}
