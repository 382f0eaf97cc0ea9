/**
 * The inventory ledger on real PostgreSQL and Redis: movements are written in the caller's transaction, stock
 * adjustments take the product row lock reservations take (a restock racing reservations and releases loses
 * nothing, and `stock = sum(movements)` holds throughout), and committed movements are announced on the admin channel.
 *
 * The race test assumes reserveStock/releaseStock record `reserve`/`release` movements (activities/inventory.ts
 * calling recordMovements); until they do, its ledger assertion fails.
 */
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { createInventoryActivities } from '../../activities/inventory';
import { adjustStock } from '../../api/catalog-store';
import { ApiError } from '../../lib/http/errors';
import { TABLES } from '../../lib/db';
import { PRODUCT_LOW_STOCK_EVENT, PRODUCT_STOCK_EVENT, redisKeys, type AdminMessage } from '../../lib/events';
import { checkInvariants } from '../../lib/invariants';
import { movementsFrom, recordMovements } from '../../lib/ledger';
import { createLogger } from '../../lib/logger';
import { createStockPublisher } from '../../lib/stock-events';
import { insertOrders } from '../support/saga-helpers';
import { insertProducts, testConfig, testDb, testRedis, uniqueSku } from '../support/services';
import { until } from '../support/wait';

describe('inventory ledger on real PostgreSQL', () => {
  const config = testConfig();
  const logger = createLogger('test', 'silent');
  let db: Knex;
  let redis: Redis;
  let inventory: ReturnType<typeof createInventoryActivities>;

  beforeAll(() => {
    db = testDb(config, 20);
    redis = testRedis(config);
    inventory = createInventoryActivities({ db, logger });
  });
  afterAll(async () => {
    await Promise.allSettled([db.destroy(), redis.quit()]);
  });

  const newOrders = (count: number) => insertOrders(db, count, { customer_id: 'ledger-test' });

  async function productOf(sku: string): Promise<{ id: number; stock: number }> {
    return db(TABLES.products).where({ sku }).first<{ id: number; stock: number }>('id', 'stock');
  }

  async function ledgerSum(productId: number): Promise<number> {
    const row = await db(TABLES.inventoryMovements)
      .where({ product_id: productId })
      .sum<{ total: string | null }>('quantity as total')
      .first();
    return Number(row?.total ?? 0);
  }

  it('when a product is created, then its opening stock is its first movement', async () => {
    const sku = uniqueSku('opening');
    const ids = await insertProducts(db, [{ sku, stock: 12 }]);
    const movements = await db(TABLES.inventoryMovements)
      .where({ product_id: ids.get(sku) })
      .select('kind', 'quantity');
    expect(movements).toEqual([{ kind: 'initial', quantity: 12 }]);
    expect(await checkInvariants(db, { skus: [sku] })).toEqual([]);
  });

  it('when the transaction that recorded movements rolls back, then no movement remains', async () => {
    const sku = uniqueSku('rollback');
    const ids = await insertProducts(db, [{ sku, stock: 3 }]);
    const productId = ids.get(sku) ?? 0;
    await expect(
      db.transaction(async (trx) => {
        await trx(TABLES.products).where({ id: productId }).increment('stock', 2);
        const written = await recordMovements(trx, [
          { productId, kind: 'adjustment', quantity: 2, reason: 'found two' },
        ]);
        expect(written).toEqual([{ id: expect.any(String), productId, kind: 'adjustment', quantity: 2 }]);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await ledgerSum(productId)).toBe(3);
    expect((await productOf(sku)).stock).toBe(3);
  });

  it('when a statement that changes stock records its movements with movementsFrom, then stock = sum(movements)', async () => {
    const sku = uniqueSku('cte');
    const ids = await insertProducts(db, [{ sku, stock: 5 }]);
    const productId = ids.get(sku) ?? 0;
    const orderId = randomUUID();
    const change = (delta: number, kind: 'reserve' | 'release' | 'commit') =>
      db.raw(
        `WITH c AS (UPDATE ${TABLES.products} SET stock = stock + ? WHERE id = ? RETURNING id AS product_id, ?::int AS quantity),
              moved AS (${movementsFrom('c', kind)})
         SELECT 1`,
        [delta, productId, Math.abs(delta), orderId],
      );
    await change(-2, 'reserve');
    await change(2, 'release');
    await change(-1, 'reserve');
    await change(0, 'commit');
    const movements = await db(TABLES.inventoryMovements)
      .where({ product_id: productId })
      .orderBy('id')
      .select('kind', 'quantity', 'order_id');
    expect(movements).toEqual([
      { kind: 'initial', quantity: 5, order_id: null },
      { kind: 'reserve', quantity: -2, order_id: orderId },
      { kind: 'release', quantity: 2, order_id: orderId },
      { kind: 'reserve', quantity: -1, order_id: orderId },
      { kind: 'commit', quantity: 0, order_id: orderId },
    ]);
    expect(await checkInvariants(db, { skus: [sku] })).toEqual([]);
  });

  it('when an adjustment would take stock below zero, then it is refused with insufficient_stock and nothing changes', async () => {
    const sku = uniqueSku('below');
    await insertProducts(db, [{ sku, stock: 2 }]);
    const refused = adjustStock(db, sku, -3, 'shrinkage');
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toMatchObject({ code: 'insufficient_stock', details: { stock: 2, delta: -3 } });
    const product = await productOf(sku);
    expect(product.stock).toBe(2);
    expect(await db(TABLES.inventoryMovements).where({ product_id: product.id }).count<{ count: string }[]>()).toEqual([
      { count: '1' },
    ]);
  });

  it('when 20 restocks race 100 reservations and 40 releases on one SKU, then nothing is lost and stock = sum(movements)', async () => {
    const sku = uniqueSku('race');
    const INITIAL = 50;
    await insertProducts(db, [{ sku, stock: INITIAL }]);
    const orders = await newOrders(100);
    // Phase 1: reservations and restocks interleaved; phase 2: releases of the first 40 orders race more restocks.
    const restock = (i: number) => adjustStock(db, sku, 3, `restock ${i}`);
    const first = await Promise.allSettled([
      ...orders.map((orderId) => inventory.reserveStock({ orderId, lines: [{ sku, quantity: 1 }] })),
      ...Array.from({ length: 10 }, (_, i) => restock(i)),
    ]);
    expect(first.filter((result) => result.status === 'rejected')).toEqual([]);
    const reserved = await db(TABLES.stockReservations)
      .join(TABLES.products, 'products.id', 'stock_reservations.product_id')
      .where({ 'products.sku': sku, 'stock_reservations.status': 'held' })
      .pluck<string[]>('stock_reservations.order_id');
    const released = reserved.slice(0, 40);
    const second = await Promise.allSettled([
      ...released.map((orderId) => inventory.releaseStock(orderId)),
      ...Array.from({ length: 10 }, (_, i) => restock(10 + i)),
    ]);
    expect(second.filter((result) => result.status === 'rejected')).toEqual([]);

    const product = await productOf(sku);
    const held = reserved.length - released.length;
    expect(product.stock).toBe(INITIAL + 20 * 3 - held);
    expect(await ledgerSum(product.id)).toBe(product.stock);
    const kinds = await db(TABLES.inventoryMovements)
      .where({ product_id: product.id })
      .groupBy('kind')
      .select<{ kind: string; count: string }[]>('kind', db.raw('count(*)::text AS count'));
    expect(Object.fromEntries(kinds.map((row) => [row.kind, Number(row.count)]))).toEqual({
      initial: 1,
      adjustment: 20,
      reserve: reserved.length,
      release: released.length,
    });
    expect(await checkInvariants(db, { skus: [sku] })).toEqual([]);
  });

  it('when movements commit, then the admin channel gets product.stock, and product.low_stock at or below the threshold', async () => {
    const sku = uniqueSku('events');
    await insertProducts(db, [{ sku, stock: 8, lowStockThreshold: 5 }]);
    const subscriber = redis.duplicate();
    const received: AdminMessage[] = [];
    try {
      await subscriber.subscribe(redisKeys(config.redisKeyPrefix).adminChannel);
      subscriber.on('message', (_channel: string, raw: string) => received.push(JSON.parse(raw) as AdminMessage));
      const publish = createStockPublisher({ db, redis, redisKeyPrefix: config.redisKeyPrefix, logger });

      const down = await adjustStock(db, sku, -3, 'damaged');
      await publish([down.movement]);
      const up = await adjustStock(db, sku, 1, 'found one');
      await publish([up.movement]);

      // A change recorded by a CTE (movementsFrom) has no id to report: the event says so with null.
      const productId = (await productOf(sku)).id;
      await publish([{ productId, kind: 'commit', quantity: 0 }]);

      await until('four admin events', () => received.length >= 4);
      expect(received).toEqual([
        {
          event: PRODUCT_STOCK_EVENT,
          payload: {
            sku,
            stock: 5,
            kind: 'adjustment',
            quantity: -3,
            movementId: down.movement.id,
            at: expect.any(String),
          },
        },
        { event: PRODUCT_LOW_STOCK_EVENT, payload: { sku, stock: 5, threshold: 5, at: expect.any(String) } },
        {
          event: PRODUCT_STOCK_EVENT,
          payload: {
            sku,
            stock: 6,
            kind: 'adjustment',
            quantity: 1,
            movementId: up.movement.id,
            at: expect.any(String),
          },
        },
        {
          event: PRODUCT_STOCK_EVENT,
          payload: { sku, stock: 6, kind: 'commit', quantity: 0, movementId: null, at: expect.any(String) },
        },
      ]);
    } finally {
      subscriber.disconnect();
    }
  });
});
