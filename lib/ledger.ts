/**
 * The inventory ledger: every change of `products.stock` writes one `inventory_movements` row in the same
 * transaction, so a product's stock is always the sum of its movements (checked by `checkInvariants`). The kinds,
 * product statuses and the SQL that writes movements live here once; the API (catalog, stock adjustments), the
 * inventory activities (reserve, release, commit), the seed and the test/bench catalogs all use it.
 */
import type { Knex } from 'knex';
import { TABLES } from './db';

/** Kinds of movement; `commit` moves nothing off the shelf (quantity 0) but completes an order's story. */
export const MOVEMENT_KINDS = ['initial', 'reserve', 'release', 'commit', 'adjustment'] as const;

/** A movement kind. */
export type MovementKind = (typeof MOVEMENT_KINDS)[number];

/** Catalog statuses: only `published` products are listed by GET /products and orderable. */
export const PRODUCT_STATUSES = ['draft', 'published', 'archived'] as const;

/** A product status. */
export type ProductStatus = (typeof PRODUCT_STATUSES)[number];

/** The status a product must have to be listed and ordered. */
export const ORDERABLE_STATUS: ProductStatus = 'published';

/** Default of `products.low_stock_threshold`: a `product.low_stock` event fires when stock falls to or below it. */
export const DEFAULT_LOW_STOCK_THRESHOLD = 5;

/** One movement to record. */
export interface MovementInput {
  productId: number;
  kind: MovementKind;
  /** Signed change of `products.stock` (negative for reserve, positive for release; 0 for commit). */
  quantity: number;
  /** The order the movement belongs to (reserve, release, commit). */
  orderId?: string;
  /** Why (adjustments: the operator's reason; initial: where the stock came from). */
  reason?: string;
}

/** A recorded movement, as `recordMovements` returns it (ids are bigint, read as strings by pg). */
export interface RecordedMovement {
  id: string;
  productId: number;
  kind: MovementKind;
  quantity: number;
}

const INSERT_MOVEMENTS = `
  INSERT INTO ${TABLES.inventoryMovements} (product_id, kind, quantity, order_id, reason)
  SELECT * FROM unnest(?::int[], ?::text[], ?::int[], ?::uuid[], ?::text[])
  RETURNING id::text AS id, product_id AS "productId", kind, quantity`;

/**
 * Records movements in ONE statement inside the caller's transaction (the one that changes `products.stock`, so
 * both commit or neither does). The caller holds the product row locks; this takes none. Returns the rows written,
 * in input order. An empty list writes nothing.
 */
export async function recordMovements(
  trx: Knex | Knex.Transaction,
  movements: readonly MovementInput[],
): Promise<RecordedMovement[]> {
  if (movements.length === 0) return [];
  const bindings: readonly Knex.RawBinding[] = [
    movements.map((m) => m.productId),
    movements.map((m) => m.kind),
    movements.map((m) => m.quantity),
    movements.map((m) => m.orderId ?? null) as Knex.RawBinding,
    movements.map((m) => m.reason ?? null) as Knex.RawBinding,
  ];
  const result = await trx.raw<{ rows: RecordedMovement[] }>(INSERT_MOVEMENTS, bindings);
  return result.rows;
}

/**
 * An `INSERT` for a data-modifying CTE that records one movement per row of `source` (a CTE or table with
 * `product_id` and `quantity` columns, quantity positive), so a statement that already changes stock records its
 * movements in the same round trip, e.g. `..., moved AS (${movementsFrom('res', 'reserve')}) SELECT ...`.
 * `reserve` records `-quantity`, `release` `+quantity`, `commit` 0. Takes one binding: the order id.
 */
export function movementsFrom(source: string, kind: 'reserve' | 'release' | 'commit'): string {
  const quantity = kind === 'reserve' ? `-${source}.quantity` : kind === 'release' ? `${source}.quantity` : '0';
  return `INSERT INTO ${TABLES.inventoryMovements} (product_id, kind, quantity, order_id)
    SELECT ${source}.product_id, '${kind}', ${quantity}, ?::uuid FROM ${source}`;
}

/** A product to create with its opening stock. */
export interface NewProduct {
  sku: string;
  name: string;
  priceCents: number;
  /** Opening stock, recorded as an `initial` movement (also when 0: the ledger starts with the product). @default 0 */
  stock?: number;
  /** @default 'published' */
  status?: ProductStatus;
  /** @default DEFAULT_LOW_STOCK_THRESHOLD */
  lowStockThreshold?: number;
}

/**
 * Inserts products and their `initial` movements in one transaction (SKUs that already exist are skipped when
 * `ignoreExisting`, else the unique violation is thrown). Returns the ids of the inserted products by SKU.
 */
export async function insertProductsWithLedger(
  db: Knex,
  products: readonly NewProduct[],
  { ignoreExisting = false, reason = 'initial stock' }: { ignoreExisting?: boolean; reason?: string } = {},
): Promise<Map<string, number>> {
  if (products.length === 0) return new Map();
  return db.transaction(async (trx) => {
    const insert = trx(TABLES.products).insert(
      products.map((p) => ({
        sku: p.sku,
        name: p.name,
        price_cents: p.priceCents,
        stock: p.stock ?? 0,
        status: p.status ?? ORDERABLE_STATUS,
        low_stock_threshold: p.lowStockThreshold ?? DEFAULT_LOW_STOCK_THRESHOLD,
      })),
    );
    const rows = await (ignoreExisting ? insert.onConflict('sku').ignore() : insert).returning<
      { id: number; sku: string; stock: number }[]
    >(['id', 'sku', 'stock']);
    await recordMovements(
      trx,
      rows.map((row) => ({ productId: row.id, kind: 'initial' as const, quantity: row.stock, reason })),
    );
    return new Map(rows.map((row) => [row.sku, row.id]));
  });
}
