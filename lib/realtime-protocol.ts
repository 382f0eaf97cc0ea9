/**
 * What the relay and its clients say to each other beyond `lib/events.ts`: the payload a client receives, the
 * `subscribe` request and its acknowledgement, and the error codes of both (the API's codes, `lib/http/errors.ts`).
 */
import { z } from 'zod';
import type { OrderEvent } from './events';
import type { ErrorCode } from './http/errors';

/** The `order.status` payload a client receives: an `OrderEvent` without the owner's id. */
export type ClientOrderEvent = Omit<OrderEvent, 'customerId'>;

/** Strips what clients must not see (the customer id) from an event. */
export function toClientEvent(event: OrderEvent): ClientOrderEvent {
  return { orderId: event.orderId, seq: event.seq, status: event.status, at: event.at, detail: event.detail };
}

/**
 * Body of a `subscribe` request: follow one order, first replaying every stored event after `lastSeq`. Its only
 * text, `orderId`, must be a UUID, which is storable text by construction (no U+0000, no surrogates).
 */
export const subscribeRequestSchema = z.strictObject({
  orderId: z.guid(),
  /** The highest seq the client already has; 0 (the default) replays the whole history. */
  lastSeq: z.number().int().min(0).max(2_147_483_647).optional(),
});

/** Stable error codes of a refused `subscribe` and of a refused handshake: the API's codes for the same cases. */
export const REALTIME_ERRORS = {
  /** The payload is not `{ orderId: uuid, lastSeq?: integer >= 0 }`. */
  validationFailed: 'validation_failed',
  /** No such order, or it belongs to another customer (the two are indistinguishable on purpose). */
  notFound: 'not_found',
  /** PostgreSQL could not be read; the client may retry. */
  serviceUnavailable: 'service_unavailable',
  /** Handshake without a valid HS256 token (connect_error message). */
  unauthorized: 'unauthorized',
} as const satisfies Record<string, ErrorCode>;

/** A `subscribe` error code. */
type SubscribeErrorCode = Exclude<(typeof REALTIME_ERRORS)[keyof typeof REALTIME_ERRORS], 'unauthorized'>;

/**
 * Acknowledgement of a `subscribe`: sent after the replayed events, before live ones resume. A refused payload
 * (`validation_failed`) names the offending `field` (`payload` for the frame as a whole) and says why in `message`.
 */
export type SubscribeAck =
  | { ok: true }
  | { ok: false; error: Exclude<SubscribeErrorCode, 'validation_failed'> }
  | { ok: false; error: 'validation_failed'; field: string; message: string };
