/**
 * After-commit publisher of the ledger's live events: `product.stock` for every movement and `product.low_stock`
 * when a movement that took stock left it at or below the product's threshold. Call it once the transaction that
 * recorded the movements has committed; it reads the products' current stock unless every change carries the stock
 * its statement left (`after`), publishes everything in one Redis round trip, and never throws (a lost event is
 * logged, the ledger in PostgreSQL stays the truth).
 */
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { TABLES } from './db';
import { PRODUCT_LOW_STOCK_EVENT, PRODUCT_STOCK_EVENT, publishAdminEvent } from './events';
import type { MovementKind } from './ledger';
import type { Logger } from './logger';

/** What the publisher needs. */
export interface StockPublisherDeps {
  db: Knex;
  redis: Redis;
  /** Prefix of the deployment's Redis keys (`REDIS_KEY_PREFIX`). */
  redisKeyPrefix: string;
  logger: Logger;
}

/**
 * One committed change of stock: a `RecordedMovement` (from `recordMovements`), or the same facts without the
 * movement's id (e.g. movements written by a CTE with `movementsFrom`, which returns no rows).
 */
export interface StockChange {
  productId: number;
  kind: MovementKind;
  /** Signed, as recorded. */
  quantity: number;
  /** The movement's id, when the caller has it. */
  id?: string;
  /** The product as the statement that moved its stock left it (e.g. `orderflow_reserve`'s `stocks`): no read. */
  after?: ProductStock;
}

/** A product's stock and low-stock threshold at one moment. */
export interface ProductStock {
  sku: string;
  stock: number;
  lowStockThreshold: number;
}

/** Publishes the events of committed movements; resolves once they are published (or the failure logged). */
export type StockPublisher = (movements: readonly StockChange[]) => Promise<void>;

/** Builds the publisher. */
export function createStockPublisher({ db, redis, redisKeyPrefix, logger }: StockPublisherDeps): StockPublisher {
  /** The current stock of the moved products that carry no `after`, by id (no query when all do). */
  async function currentStock(movements: readonly StockChange[]): Promise<Map<number, ProductStock>> {
    const ids = [...new Set(movements.filter((m) => m.after === undefined).map((m) => m.productId))];
    if (ids.length === 0) return new Map();
    const products = await db(TABLES.products)
      .whereIn('id', ids)
      .select<{ id: number; sku: string; stock: number; low_stock_threshold: number }[]>(
        'id',
        'sku',
        'stock',
        'low_stock_threshold',
      );
    return new Map(
      products.map((p) => [p.id, { sku: p.sku, stock: p.stock, lowStockThreshold: p.low_stock_threshold }]),
    );
  }

  return async (movements) => {
    if (movements.length === 0) return;
    try {
      const byId = await currentStock(movements);
      const at = new Date().toISOString();
      const published: Promise<void>[] = [];
      for (const movement of movements) {
        const product = movement.after ?? byId.get(movement.productId);
        if (product === undefined) continue; // deleted since
        published.push(
          publishAdminEvent(redis, redisKeyPrefix, {
            event: PRODUCT_STOCK_EVENT,
            payload: {
              sku: product.sku,
              stock: product.stock,
              kind: movement.kind,
              quantity: movement.quantity,
              movementId: movement.id ?? null,
              at,
            },
          }),
        );
        if (movement.quantity < 0 && product.stock <= product.lowStockThreshold) {
          published.push(
            publishAdminEvent(redis, redisKeyPrefix, {
              event: PRODUCT_LOW_STOCK_EVENT,
              payload: { sku: product.sku, stock: product.stock, threshold: product.lowStockThreshold, at },
            }),
          );
        }
      }
      // ioredis writes commands in call order on one connection: one round trip, events in movement order.
      await Promise.all(published);
    } catch (error) {
      logger.warn('stock events not published', { movements: movements.length, err: error });
    }
  };
}
