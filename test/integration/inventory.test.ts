import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { ACTIVITY_FAILURE_TYPES } from '../../activities/contract';
import { createInventoryActivities } from '../../activities/inventory';
import { createLogger } from '../../lib/logger';
import { checkInvariants } from '../../lib/invariants';
import { insertOrder, insertOrders } from '../support/saga-helpers';
import { insertProducts, testConfig, testDb, uniqueSku } from '../support/services';

const DEADLOCK_OR_SERIALIZATION = /deadlock|could not serialize/i;

describe('inventory activities on real PostgreSQL', () => {
  const config = testConfig();
  let db: Knex;
  let inventory: ReturnType<typeof createInventoryActivities>;

  beforeAll(() => {
    // 20 connections: more concurrent transactions than any one product row can serve at once.
    db = testDb(config, 20);
    inventory = createInventoryActivities({ db, logger: createLogger('test', 'silent') });
  });
  afterAll(async () => {
    await db.destroy();
  });

  /** Order rows (reserveStock writes order_items, which reference them); their ids. */
  const newOrders = (count: number) => insertOrders(db, count, { customer_id: 'inventory-test' });
  const newOrder = () => insertOrder(db, { customer_id: 'inventory-test' });

  /** Reserves `lines` (quantity by SKU, in that order) for a new order; its id and the outcome. */
  async function reserveForNewOrder(lines: Record<string, number>) {
    const orderId = await newOrder();
    const outcome = await inventory.reserveStock({
      orderId,
      lines: Object.entries(lines).map(([sku, quantity]) => ({ sku, quantity })),
    });
    return { orderId, outcome };
  }

  async function stockOf(sku: string): Promise<number> {
    const row = await db('products').where({ sku }).first<{ stock: number }>('stock');
    return row.stock;
  }

  async function reservationsOf(orderId: string): Promise<{ product_id: number; quantity: number; status: string }[]> {
    return db('stock_reservations')
      .where({ order_id: orderId })
      .orderBy('product_id')
      .select('product_id', 'quantity', 'status');
  }

  it('when 200 callers race for one unit each of a SKU with stock 37, then exactly 37 are reserved and stock ends at 0', async () => {
    const sku = uniqueSku('hot');
    await insertProducts(db, [{ sku, stock: 37, priceCents: 250 }]);
    const orders = await newOrders(200);

    const settled = await Promise.allSettled(
      orders.map((orderId) => inventory.reserveStock({ orderId, lines: [{ sku, quantity: 1 }] })),
    );

    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    expect(errors).toEqual([]); // no deadlock, no serialization failure, no check-constraint violation
    const outcomes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    expect(outcomes.filter((o) => o.status === 'RESERVED')).toHaveLength(37);
    const rejected = outcomes.filter((o) => o.status === 'REJECTED');
    expect(rejected).toHaveLength(163);
    for (const outcome of rejected) {
      expect(outcome).toEqual({
        status: 'REJECTED',
        reason: 'insufficient_stock',
        shortages: [{ sku, requested: 1, available: 0 }],
      });
    }
    expect(await stockOf(sku)).toBe(0);
    const held = await db('stock_reservations')
      .whereIn('order_id', orders)
      .andWhere({ status: 'held' })
      .sum<{ total: string }>('quantity as total')
      .first();
    expect(Number(held?.total)).toBe(37);
    expect(await checkInvariants(db, { initialStock: new Map([[sku, 37]]) })).toEqual([]);
  });

  it('when 100 orders of (A, B) race 100 orders of (B, A), then none deadlocks and stock is conserved', async () => {
    const a = uniqueSku('a');
    const b = uniqueSku('b');
    await insertProducts(db, [
      { sku: a, stock: 120 },
      { sku: b, stock: 120 },
    ]);
    const orders = await newOrders(200);

    const settled = await Promise.allSettled(
      orders.map((orderId, i) =>
        inventory.reserveStock({
          orderId,
          lines:
            i % 2 === 0
              ? [
                  { sku: a, quantity: 1 },
                  { sku: b, quantity: 1 },
                ]
              : [
                  { sku: b, quantity: 1 },
                  { sku: a, quantity: 1 },
                ],
        }),
      ),
    );

    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    expect(errors.filter((e) => DEADLOCK_OR_SERIALIZATION.test(e))).toEqual([]);
    expect(errors).toEqual([]);
    const reserved = settled.filter((s) => s.status === 'fulfilled' && s.value.status === 'RESERVED');
    expect(reserved).toHaveLength(120);
    expect(await stockOf(a)).toBe(0);
    expect(await stockOf(b)).toBe(0);
    expect(
      await checkInvariants(db, {
        initialStock: new Map([
          [a, 120],
          [b, 120],
        ]),
      }),
    ).toEqual([]);

    // Releasing all of them in the opposite orders at once must not deadlock either.
    const released = await Promise.allSettled(orders.map((orderId) => inventory.releaseStock(orderId)));
    expect(released.filter((s) => s.status === 'rejected')).toEqual([]);
    expect(await stockOf(a)).toBe(120);
    expect(await stockOf(b)).toBe(120);
  });

  it('when reserveStock runs twice with the same arguments, then stock is taken once and both calls return the same result', async () => {
    const a = uniqueSku('twice-a');
    const b = uniqueSku('twice-b');
    const ids = await insertProducts(db, [
      { sku: a, stock: 10, priceCents: 300 },
      { sku: b, stock: 10, priceCents: 125 },
    ]);
    const orderId = await newOrder();
    const input = {
      orderId,
      lines: [
        { sku: b, quantity: 3 },
        { sku: a, quantity: 1 },
      ],
    };

    const first = await inventory.reserveStock(input);
    const second = await inventory.reserveStock(input);

    expect(first).toEqual({
      status: 'RESERVED',
      totalCents: 3 * 125 + 300,
      lines: [
        { sku: b, quantity: 3, productId: ids.get(b), unitPriceCents: 125 },
        { sku: a, quantity: 1, productId: ids.get(a), unitPriceCents: 300 },
      ],
    });
    expect(second).toEqual(first);
    expect(await stockOf(a)).toBe(9);
    expect(await stockOf(b)).toBe(7);
    expect(await reservationsOf(orderId)).toEqual(
      [
        { product_id: ids.get(a), quantity: 1, status: 'held' },
        { product_id: ids.get(b), quantity: 3, status: 'held' },
      ].sort((x, y) => Number(x.product_id) - Number(y.product_id)),
    );
    const items = await db('order_items').where({ order_id: orderId }).orderBy('sku');
    expect(
      items.map((i: { sku: string; quantity: number; unit_price_cents: number }) => [
        i.sku,
        i.quantity,
        i.unit_price_cents,
      ]),
    ).toEqual(
      [
        [a, 1, 300],
        [b, 3, 125],
      ].sort(),
    );
  });

  it.each([
    ['ample stock', 5, 3],
    ['stock for exactly one of them', 2, 0],
  ])(
    'when 8 concurrent duplicates of one reservation meet %s, then stock is taken once and all return RESERVED',
    async (_label, stock, left) => {
      const sku = uniqueSku('dup');
      await insertProducts(db, [{ sku, stock }]);
      const orderId = await newOrder();

      const results = await Promise.all(
        Array.from({ length: 8 }, () => inventory.reserveStock({ orderId, lines: [{ sku, quantity: 2 }] })),
      );

      for (const result of results) expect(result).toEqual(results[0]);
      expect(results[0]?.status).toBe('RESERVED');
      expect(await stockOf(sku)).toBe(left);
      expect(await reservationsOf(orderId)).toEqual([expect.objectContaining({ quantity: 2, status: 'held' })]);
      expect(await db('order_items').where({ order_id: orderId })).toHaveLength(1);
    },
  );

  it('when stock is short on one line, then the order is rejected with every shortage and nothing is written', async () => {
    const a = uniqueSku('short-a');
    const b = uniqueSku('short-b');
    const c = uniqueSku('short-c');
    await insertProducts(db, [
      { sku: a, stock: 1 },
      { sku: b, stock: 5 },
      { sku: c, stock: 0 },
    ]);

    const { orderId, outcome } = await reserveForNewOrder({ [a]: 2, [b]: 5, [c]: 1 });

    expect(outcome).toEqual({
      status: 'REJECTED',
      reason: 'insufficient_stock',
      shortages: [
        { sku: a, requested: 2, available: 1 },
        { sku: c, requested: 1, available: 0 },
      ],
    });
    expect([await stockOf(a), await stockOf(b), await stockOf(c)]).toEqual([1, 5, 0]);
    expect(await reservationsOf(orderId)).toEqual([]);
    expect(await db('order_items').where({ order_id: orderId })).toEqual([]);
  });

  it('when a SKU is unknown, then the order is rejected naming it and nothing is written', async () => {
    const known = uniqueSku('known');
    const unknown = uniqueSku('missing');
    await insertProducts(db, [{ sku: known, stock: 3 }]);

    const { orderId, outcome } = await reserveForNewOrder({ [known]: 1, [unknown]: 1 });

    expect(outcome).toEqual({ status: 'REJECTED', reason: 'unknown_sku', unknownSkus: [unknown] });
    expect(await stockOf(known)).toBe(3);
    expect(await reservationsOf(orderId)).toEqual([]);
  });

  it('when releaseStock runs twice, then the stock comes back once and the reservation is released', async () => {
    const sku = uniqueSku('release');
    await insertProducts(db, [{ sku, stock: 4 }]);
    const orderId = await newOrder();
    await inventory.reserveStock({ orderId, lines: [{ sku, quantity: 3 }] });
    expect(await stockOf(sku)).toBe(1);

    expect(await inventory.releaseStock(orderId)).toEqual({ released: 1 });
    expect(await inventory.releaseStock(orderId)).toEqual({ released: 0 });

    expect(await stockOf(sku)).toBe(4);
    expect(await reservationsOf(orderId)).toEqual([expect.objectContaining({ quantity: 3, status: 'released' })]);
    expect(await checkInvariants(db, { initialStock: new Map([[sku, 4]]) })).toEqual([]);
  });

  it('when releaseStock runs as concurrent duplicates, then the stock comes back exactly once', async () => {
    const sku = uniqueSku('release-dup');
    await insertProducts(db, [{ sku, stock: 10 }]);
    const orderId = await newOrder();
    await inventory.reserveStock({ orderId, lines: [{ sku, quantity: 6 }] });

    const results = await Promise.all(Array.from({ length: 6 }, () => inventory.releaseStock(orderId)));

    expect(results.map((r) => r.released).sort()).toEqual([0, 0, 0, 0, 0, 1]);
    expect(await stockOf(sku)).toBe(10);
  });

  it('when commitStock runs twice, then the reservation is committed once and a later release changes nothing', async () => {
    const sku = uniqueSku('commit');
    await insertProducts(db, [{ sku, stock: 4 }]);
    const orderId = await newOrder();
    await inventory.reserveStock({ orderId, lines: [{ sku, quantity: 2 }] });

    expect(await inventory.commitStock(orderId)).toEqual({ committed: 1 });
    expect(await inventory.commitStock(orderId)).toEqual({ committed: 0 });
    expect(await inventory.releaseStock(orderId)).toEqual({ released: 0 });

    expect(await stockOf(sku)).toBe(2);
    expect(await reservationsOf(orderId)).toEqual([expect.objectContaining({ quantity: 2, status: 'committed' })]);
    // Stock only: the order itself never reaches COMPLETED in this activity-level test.
    expect(await checkInvariants(db, { initialStock: new Map([[sku, 4]]), orderIds: [] })).toEqual([]);
  });

  it('when the order row was never recorded, then reserveStock fails without retry and holds nothing', async () => {
    const sku = uniqueSku('no-order');
    await insertProducts(db, [{ sku, stock: 4 }]);
    const orderId = randomUUID();

    const failure = await inventory.reserveStock({ orderId, lines: [{ sku, quantity: 1 }] }).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: ACTIVITY_FAILURE_TYPES.orderNotRecorded, nonRetryable: true });
    expect(await stockOf(sku)).toBe(4);
    expect(await reservationsOf(orderId)).toEqual([]);
  });

  it.each([
    ['no lines', []],
    ['a zero quantity', [{ sku: 'X', quantity: 0 }]],
    ['a fractional quantity', [{ sku: 'X', quantity: 1.5 }]],
    ['a quantity above the API limit of 1000', [{ sku: 'X', quantity: 1001 }]],
    [
      'a repeated SKU (refused, as POST /orders refuses it, not merged)',
      [
        { sku: 'X', quantity: 1 },
        { sku: 'X', quantity: 2 },
      ],
    ],
  ])('when the lines have %s, then reserveStock fails without retry', async (_label, lines) => {
    await expect(inventory.reserveStock({ orderId: randomUUID(), lines })).rejects.toMatchObject({
      type: ACTIVITY_FAILURE_TYPES.invalidInput,
      nonRetryable: true,
    });
  });
});
