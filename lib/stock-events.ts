/**
 * After-commit publisher of the ledger's live events: `product.stock` for every movement and `product.low_stock`
 * when a movement that took stock left it at or below the product's threshold. Call it once the transaction that
 * recorded the movements has committed; it reads the products' current stock and never throws (a lost event is
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
}

/** Publishes the events of committed movements; resolves once they are published (or the failure logged). */
export type StockPublisher = (movements: readonly StockChange[]) => Promise<void>;

/** Builds the publisher. */
export function createStockPublisher({ db, redis, redisKeyPrefix, logger }: StockPublisherDeps): StockPublisher {
  return async (movements) => {
    if (movements.length === 0) return;
    try {
      const products = await db(TABLES.products)
        .whereIn('id', [...new Set(movements.map((m) => m.productId))])
        .select<{ id: number; sku: string; stock: number; low_stock_threshold: number }[]>(
          'id',
          'sku',
          'stock',
          'low_stock_threshold',
        );
      const byId = new Map(products.map((product) => [product.id, product]));
      const at = new Date().toISOString();
      for (const movement of movements) {
        const product = byId.get(movement.productId);
        if (product === undefined) continue; // deleted since
        await publishAdminEvent(redis, redisKeyPrefix, {
          event: PRODUCT_STOCK_EVENT,
          payload: {
            sku: product.sku,
            stock: product.stock,
            kind: movement.kind,
            quantity: movement.quantity,
            movementId: movement.id ?? null,
            at,
          },
        });
        if (movement.quantity < 0 && product.stock <= product.low_stock_threshold) {
          await publishAdminEvent(redis, redisKeyPrefix, {
            event: PRODUCT_LOW_STOCK_EVENT,
            payload: { sku: product.sku, stock: product.stock, threshold: product.low_stock_threshold, at },
          });
        }
      }
    } catch (error) {
      logger.warn('stock events not published', { movements: movements.length, err: error });
    }
  };
}
