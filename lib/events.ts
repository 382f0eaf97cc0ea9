import type Redis from 'ioredis';
import type { OrderStatus } from '../workflows/definitions';
import type { MovementKind } from './ledger';

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

/** Socket.IO event on the admin channel: a product's stock changed (one per movement). */
export const PRODUCT_STOCK_EVENT = 'product.stock';

/** Socket.IO event on the admin channel: a movement took a product's stock to or below its low-stock threshold. */
export const PRODUCT_LOW_STOCK_EVENT = 'product.low_stock';

/** Socket.IO event on the admin channel: an export advanced or ended. */
export const EXPORT_PROGRESS_EVENT = 'export.progress';

/** `product.stock`: the stock after a movement, and which kind of movement it was. */
export interface ProductStockEvent {
  sku: string;
  stock: number;
  kind: MovementKind;
  /** The signed quantity of the movement. */
  quantity: number;
  /** The movement's id (null when its writer did not read it back). */
  movementId: string | null;
  /** ISO-8601 time of publication. */
  at: string;
}

/** `product.low_stock`: stock is at or below `threshold` after a movement that took stock. */
export interface ProductLowStockEvent {
  sku: string;
  stock: number;
  threshold: number;
  at: string;
}

/** `export.progress`: the state of an export after one page (or its end). */
export interface ExportProgressEvent {
  exportId: string;
  status: ExportStatus;
  /** CSV rows (order lines) written so far. */
  rows: number;
  /** 0..1: orders exported / orders matching when the export started. */
  progress: number;
  at: string;
}

/** Statuses of an export operation. */
export const EXPORT_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;

/** An export status. */
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** Every admin-channel event by its Socket.IO name. */
export interface AdminEvents {
  [PRODUCT_STOCK_EVENT]: ProductStockEvent;
  [PRODUCT_LOW_STOCK_EVENT]: ProductLowStockEvent;
  [EXPORT_PROGRESS_EVENT]: ExportProgressEvent;
}

/** One admin-channel message as it travels through Redis. */
export type AdminMessage = {
  [K in keyof AdminEvents]: { event: K; payload: AdminEvents[K] };
}[keyof AdminEvents];

/** Approximate length the events stream is trimmed to (XADD MAXLEN ~). */
export const EVENTS_STREAM_MAXLEN = 100_000;

/** Redis key names, all under the deployment's prefix. */
export function redisKeys(prefix: string) {
  return {
    /** The stream every order event is appended to. */
    eventsStream: `${prefix}events`,
    /** The Socket.IO Redis Streams adapter's stream (relays joined into one cluster); its sessions share the prefix. */
    socketIo: `${prefix}socket.io`,
    /**
     * Pub/sub channel of admin-channel events (stock, low stock, export progress): live indicators whose durable
     * source is PostgreSQL (the ledger, the `exports` table), so at-most-once delivery is enough.
     */
    adminChannel: `${prefix}admin-events`,
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

/** Publishes an admin-channel event to every relay (best effort: a relay that is down misses it). */
export async function publishAdminEvent(redis: Redis, prefix: string, message: AdminMessage): Promise<void> {
  await redis.publish(redisKeys(prefix).adminChannel, JSON.stringify(message));
}
