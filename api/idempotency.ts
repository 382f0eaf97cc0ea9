/**
 * Idempotency of POST /orders: the order id is derived from (customer, Idempotency-Key), so concurrent retries of
 * one request land on the same workflow id; the request hash (`requestHashOf`, lib/order-lines.ts) tells a true retry
 * from a key reused for another body.
 */
import { createHash, randomUUID } from 'node:crypto';

/** A UUID (RFC 9562 version 8, "custom") from the first 128 bits of SHA-256 over the customer and key. */
export function orderIdFor(customerId: string, idempotencyKey: string): string {
  const bytes = createHash('sha256')
    .update(JSON.stringify(['orderflow.order', customerId, idempotencyKey]))
    .digest();
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The order id of a request: derived when a key is given, random otherwise (every such POST is a new order). */
export function newOrderId(customerId: string, idempotencyKey: string | undefined): string {
  return idempotencyKey === undefined ? randomUUID() : orderIdFor(customerId, idempotencyKey);
}
