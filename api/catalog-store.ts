/**
 * The catalog and its ledger as the API reads and writes them: products (publish flow), stock adjustments under the
 * product row lock reservations take, and the movements of a product, newest first. Every stock change writes its
 * movement in the same transaction (lib/ledger.ts).
 */
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { RESERVATION_STATUS } from '../lib/rows';
import {
  insertProductsWithLedger,
  type NewProduct,
  ORDERABLE_STATUS,
  recordMovements,
  type MovementKind,
  type ProductStatus,
  type RecordedMovement,
} from '../lib/ledger';
import { ApiError } from '../lib/http/errors';
import { decodeCursorText, encodeCursorText } from '../lib/http/query';
import { isBigintId } from '../lib/pg-values';
import { productNotFound } from './errors';
import { CATALOG_LIMITS } from './validation';
import type { Movement, MovementPage, Product, ProductDetail } from './schemas';

interface ProductRow {
  id: number;
  sku: string;
  name: string;
  price_cents: number;
  stock: number;
  status: ProductStatus;
  low_stock_threshold: number;
  created_at: Date;
  updated_at: Date;
}

/** Status changes the catalog allows: draft -> published -> archived, and back to draft from either. */
const TRANSITIONS: Record<ProductStatus, readonly ProductStatus[]> = {
  draft: ['published'],
  published: ['archived', 'draft'],
  archived: ['draft'],
};

const UNIQUE_VIOLATION = '23505';

function detailOf(row: ProductRow): ProductDetail {
  return {
    sku: row.sku,
    name: row.name,
    priceCents: row.price_cents,
    stock: row.stock,
    status: row.status,
    lowStockThreshold: row.low_stock_threshold,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The orderable catalog (published products), by SKU. */
export async function listPublishedProducts(db: Knex): Promise<Product[]> {
  const rows = await db(TABLES.products)
    .where({ status: ORDERABLE_STATUS })
    .orderBy('sku')
    .select<Pick<ProductRow, 'sku' | 'name' | 'price_cents' | 'stock'>[]>('sku', 'name', 'price_cents', 'stock');
  return rows.map((row) => ({ sku: row.sku, name: row.name, priceCents: row.price_cents, stock: row.stock }));
}

/** The SKUs among `skus` that exist but are not published (a draft or archived product cannot be ordered). */
export async function unavailableSkus(db: Knex, skus: readonly string[]): Promise<string[]> {
  return db(TABLES.products)
    .whereIn('sku', [...skus])
    .whereNot({ status: ORDERABLE_STATUS })
    .orderBy('sku')
    .pluck<string[]>('sku');
}

/** Creates a product (a draft by default) with its `initial` movement; 409 product_exists for a taken SKU. */
export async function createProduct(
  db: Knex,
  input: NewProduct,
): Promise<{ product: ProductDetail; movements: RecordedMovement[] }> {
  try {
    await insertProductsWithLedger(db, [{ ...input, status: input.status ?? 'draft' }], {
      reason: 'product created',
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) {
      throw new ApiError('product_exists', `product ${input.sku} already exists`, { sku: input.sku });
    }
    throw error;
  }
  const row = await db(TABLES.products).where({ sku: input.sku }).first<ProductRow>();
  const movements = await db(TABLES.inventoryMovements)
    .where({ product_id: row.id })
    .select<RecordedMovement[]>(db.raw('id::text AS id'), 'product_id AS productId', 'kind', 'quantity');
  return { product: detailOf(row), movements };
}

/** Changes to a product; stock is not among them (adjustments only). */
export interface UpdateProductInput {
  name?: string;
  priceCents?: number;
  status?: ProductStatus;
  lowStockThreshold?: number;
}

/**
 * Updates a product under its row lock; 404 for an unknown SKU, 409 invalid_status_transition for a status change the
 * flow does not allow. Orders already placed keep their prices (`order_items.unit_price_cents`).
 */
export async function updateProduct(db: Knex, sku: string, input: UpdateProductInput): Promise<ProductDetail> {
  return db.transaction(async (trx) => {
    const row = await trx(TABLES.products).where({ sku }).forUpdate().first<ProductRow | undefined>();
    if (row === undefined) throw productNotFound(sku);
    if (input.status !== undefined && input.status !== row.status && !TRANSITIONS[row.status].includes(input.status)) {
      throw new ApiError(
        'invalid_status_transition',
        `product ${sku} cannot go from ${row.status} to ${input.status} (allowed: ${TRANSITIONS[row.status].join(', ')})`,
        { sku, from: row.status, to: input.status },
      );
    }
    const [updated] = await trx(TABLES.products)
      .where({ id: row.id })
      .update({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.priceCents !== undefined ? { price_cents: input.priceCents } : {}),
        ...(input.status !== undefined ? { status: input.status } : {}),
        ...(input.lowStockThreshold !== undefined ? { low_stock_threshold: input.lowStockThreshold } : {}),
        updated_at: trx.fn.now(),
      })
      .returning<ProductRow[]>('*');
    if (updated === undefined) throw productNotFound(sku);
    return detailOf(updated);
  });
}

/** Result of a stock adjustment. */
export interface StockAdjustment {
  sku: string;
  stock: number;
  movement: RecordedMovement;
}

/**
 * Adds `delta` (signed) to a product's stock and records an `adjustment` movement, in one transaction under the
 * product's row lock (`SELECT ... FOR UPDATE`, the lock reservations and releases take), so a restock racing
 * reservations loses nothing. 404 for an unknown SKU; 409 insufficient_stock when stock would go below zero, with
 * nothing changed.
 */
export async function adjustStock(db: Knex, sku: string, delta: number, reason: string): Promise<StockAdjustment> {
  return db.transaction(async (trx) => {
    const row = await trx(TABLES.products)
      .where({ sku })
      .forUpdate()
      .first<Pick<ProductRow, 'id' | 'stock'> | undefined>('id', 'stock');
    if (row === undefined) throw productNotFound(sku);
    if (row.stock + delta < 0) {
      throw new ApiError(
        'insufficient_stock',
        `product ${sku} has ${row.stock} in stock; a delta of ${delta} would take it below zero`,
        { sku, stock: row.stock, delta },
      );
    }
    if (delta > 0) await requireRoomFor(trx, sku, row, delta);
    const [updated] = await trx(TABLES.products)
      .where({ id: row.id })
      .update({ stock: row.stock + delta, updated_at: trx.fn.now() })
      .returning<{ stock: number }[]>('stock');
    const [movement] = await recordMovements(trx, [{ productId: row.id, kind: 'adjustment', quantity: delta, reason }]);
    if (updated === undefined || movement === undefined) throw new Error(`adjustment of ${sku} wrote nothing`);
    return { sku, stock: updated.stock, movement };
  });
}

/**
 * Refuses (409 `stock_limit_exceeded`) an increase that would take the product's stock on hand (in stock plus held by
 * orders) above CATALOG_LIMITS.maxStock. Held stock returns to `products.stock` when an order is released, so capping
 * only what is in stock would let a release overflow the PostgreSQL `integer` column (SQLSTATE 22003) and fail the
 * compensation. Call under the product's row lock: reservations take the same lock, so `held` cannot move meanwhile.
 */
async function requireRoomFor(
  trx: Knex.Transaction,
  sku: string,
  row: Pick<ProductRow, 'id' | 'stock'>,
  delta: number,
): Promise<void> {
  const [sum] = await trx(TABLES.stockReservations)
    .where({ product_id: row.id, status: RESERVATION_STATUS.held })
    .sum<{ held: string | null }[]>({ held: 'quantity' });
  const held = Number(sum?.held ?? 0);
  const { maxStock } = CATALOG_LIMITS;
  if (row.stock + held + delta > maxStock) {
    throw new ApiError(
      'stock_limit_exceeded',
      `product ${sku} has ${row.stock + held} on hand (${row.stock} in stock, ${held} held); a delta of ${delta} ` +
        `would take it above ${maxStock}`,
      { sku, stock: row.stock, held, delta, maxStock },
    );
  }
}

/** Encodes a movement cursor (the id of the last movement on the page) as opaque base64url. */
function encodeMovementCursor(id: string): string {
  return encodeCursorText(`m:${id}`);
}

/**
 * Decodes a movement cursor; undefined when it is not one we issued: not canonical base64url, an id with leading
 * zeros, or one beyond PostgreSQL `bigint`.
 */
export function decodeMovementCursor(raw: string): string | undefined {
  const id = /^m:([1-9]\d{0,18})$/.exec(decodeCursorText(raw) ?? '')?.[1];
  return id !== undefined && isBigintId(id) ? id : undefined;
}

interface MovementRow {
  id: string;
  kind: MovementKind;
  quantity: number;
  order_id: string | null;
  reason: string | null;
  created_at: Date;
}

/** One page of a product's movements, newest first; 404 for an unknown SKU. */
export async function listMovements(
  db: Knex,
  sku: string,
  page: { limit: number; afterId: string | undefined },
): Promise<MovementPage> {
  const product = await db(TABLES.products).where({ sku }).first<{ id: number } | undefined>('id');
  if (product === undefined) throw productNotFound(sku);
  const query = db(TABLES.inventoryMovements)
    .where({ product_id: product.id })
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .select<MovementRow[]>(db.raw('id::text AS id'), 'kind', 'quantity', 'order_id', 'reason', 'created_at');
  if (page.afterId !== undefined) void query.where('id', '<', page.afterId);
  const rows = await query;
  const shown = rows.slice(0, page.limit);
  const movements: Movement[] = shown.map((row) => ({
    movementId: row.id,
    kind: row.kind,
    quantity: row.quantity,
    orderId: row.order_id,
    reason: row.reason,
    at: row.created_at.toISOString(),
  }));
  const last = shown.at(-1);
  return {
    sku,
    movements,
    nextCursor: rows.length > page.limit && last !== undefined ? encodeMovementCursor(last.id) : null,
  };
}
