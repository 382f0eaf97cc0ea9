import { ApiError } from '../../lib/http/errors';
import { orderIdFor } from '../../api/idempotency';
import { requestHashOf as hashOfLines } from '../../lib/order-lines';
import type { CreateOrderBody } from '../../api/validation';

/** The request hash of a POST /orders body, as the route computes it. */
const requestHashOf = (body: CreateOrderBody): string =>
  hashOfLines({ lines: body.items, paymentToken: body.payment.token });
import { decodeCursor, encodeCursor } from '../../api/order-store';
import { createOrderBodySchema, listOrdersQuerySchema } from '../../api/validation';
import { parseOrThrow } from '../../lib/http/validate';

function failure(fn: () => unknown): { field?: unknown; message: string } | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return { field: error.details.field, message: error.message };
    throw error;
  }
  return undefined;
}

const valid = { items: [{ sku: 'TEE-BLACK-M', quantity: 2 }], payment: { token: 'tok_ok' } };

describe('api request validation', () => {
  it('when the body is valid, then it parses unchanged', () => {
    expect(parseOrThrow(createOrderBodySchema, valid)).toEqual(valid);
  });

  it.each([
    [{ ...valid, coupon: 'X' }, 'coupon', /unknown field/],
    [{ ...valid, items: [{ sku: 'TEE', quantity: 1, price: 1 }] }, 'items[0].price', /unknown field/],
    [{ ...valid, payment: { token: 't', cvv: '123' } }, 'payment.cvv', /unknown field/],
    [{ items: valid.items }, 'payment', /is required/],
    [{ ...valid, items: [] }, 'items', /at least 1/],
    [{ ...valid, items: Array.from({ length: 51 }, (_, i) => ({ sku: `S${i}`, quantity: 1 })) }, 'items', /at most 50/],
    [{ ...valid, items: [{ sku: 'tee', quantity: 1 }] }, 'items[0].sku', /A-Z/],
    [{ ...valid, items: [{ sku: `A${'B'.repeat(64)}`, quantity: 1 }] }, 'items[0].sku', /1-64/],
    [{ ...valid, items: [{ sku: 'A', quantity: 0 }] }, 'items[0].quantity', /at least 1/],
    [{ ...valid, items: [{ sku: 'A', quantity: 1001 }] }, 'items[0].quantity', /at most 1000/],
    [{ ...valid, items: [{ sku: 'A', quantity: 2.5 }] }, 'items[0].quantity', /integer/],
    [{ ...valid, items: [{ sku: 'A', quantity: '2' }] }, 'items[0].quantity', /integer/],
    [
      {
        ...valid,
        items: [
          { sku: 'A', quantity: 1 },
          { sku: 'A', quantity: 2 },
        ],
      },
      'items[1].sku',
      /duplicate SKU A/,
    ],
    [{ ...valid, payment: { token: '' } }, 'payment.token', /empty/],
    [{ ...valid, payment: { token: 'x'.repeat(201) } }, 'payment.token', /at most 200/],
    [{ ...valid, payment: { token: 'tök' } }, 'payment.token', /printable ASCII/],
    [null, 'body', /expected object/],
  ])('when the body is %j, then the 400 names %s', (body, field, message) => {
    const error = failure(() => parseOrThrow(createOrderBodySchema, body));
    expect(error?.field).toBe(field);
    expect(error?.message).toMatch(message);
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: '101' }, 'limit'],
    [{ limit: '1.5' }, 'limit'],
    [{ status: 'DONE' }, 'status'],
    [{ sort: 'asc' }, 'sort'],
  ])('when the list query is %j, then the 400 names %s', (query, field) => {
    expect(failure(() => parseOrThrow(listOrdersQuerySchema, query))?.field).toBe(field);
  });

  it('when the list query is valid, then limit becomes a number', () => {
    expect(parseOrThrow(listOrdersQuerySchema, { limit: '7', status: 'PAID' })).toEqual({ limit: 7, status: 'PAID' });
  });
});

describe('api idempotency', () => {
  it('when the same customer sends the same key, then the order id is the same UUID', () => {
    const id = orderIdFor('cust-1', 'key-1');
    expect(orderIdFor('cust-1', 'key-1')).toBe(id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('when the customer or the key differs, then the order id differs (no cross-customer collisions)', () => {
    const ids = new Set([orderIdFor('a', 'bc'), orderIdFor('ab', 'c'), orderIdFor('a', 'b:c'), orderIdFor('b', 'bc')]);
    expect(ids.size).toBe(4);
  });

  it('when two bodies differ only in line order, then their hashes are equal; otherwise they differ', () => {
    const a = {
      items: [
        { sku: 'A', quantity: 1 },
        { sku: 'B', quantity: 2 },
      ],
      payment: { token: 't' },
    };
    const b = {
      items: [
        { sku: 'B', quantity: 2 },
        { sku: 'A', quantity: 1 },
      ],
      payment: { token: 't' },
    };
    expect(requestHashOf(a)).toBe(requestHashOf(b));
    expect(requestHashOf(a)).not.toBe(requestHashOf({ ...a, payment: { token: 'u' } }));
    expect(requestHashOf(a)).not.toBe(
      requestHashOf({
        ...b,
        items: [
          { sku: 'A', quantity: 2 },
          { sku: 'B', quantity: 2 },
        ],
      }),
    );
    expect(requestHashOf(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('when a cursor is round-tripped, then it decodes to the same position; garbage decodes to nothing', () => {
    const cursor = { createdAt: '2026-01-02T03:04:05.123456Z', id: '8ddf35a5-1928-848b-9852-84374435af44' };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(decodeCursor('garbage')).toBeUndefined();
    expect(decodeCursor(Buffer.from('["x","y"]').toString('base64url'))).toBeUndefined();
  });
});
