/**
 * Idempotency of POST /orders: the order id is derived from (customer, Idempotency-Key), so concurrent retries of
 * one request land on the same workflow id; the request hash tells a true retry from a key reused for another body.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { CreateOrderBody } from './validation';

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

/**
 * SHA-256 (hex) of the normalised body: lines sorted by SKU, keys in a fixed order. Two bodies that ask for the same
 * order hash alike whatever their line order or whitespace.
 */
export function requestHashOf(body: CreateOrderBody): string {
  const lines = [...body.items]
    .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0))
    .map((line) => [line.sku, line.quantity]);
  return createHash('sha256')
    .update(JSON.stringify({ v: 1, lines, paymentToken: body.payment.token }))
    .digest('hex');
}
