/**
 * Stock reservations on PostgreSQL. Every activity is one short transaction that takes row locks in one global order
 * (products by ascending id), so concurrent orders queue on a hot SKU instead of deadlocking, and every write is keyed
 * by the order id, so a retried activity finds its own earlier work and changes nothing.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { ORDERABLE_STATUS } from '../lib/ledger';
import { movementsFrom, recordMovements } from './ledger';
import type { Logger } from '../lib/logger';
import type { OrderLine, PricedLine, ReservationOutcome, Shortage } from '../workflows/definitions';
import {
  ACTIVITY_FAILURE_TYPES,
  orderNotRecordedFailure,
  type CommitStockResult,
  type ReleaseStockResult,
  type ReserveStockInput,
  type ReserveStockResult,
} from './contract';

/** Dependencies of the inventory activities. */
export interface InventoryDeps {
  db: Knex;
  logger: Logger;
}

/** Largest quantity of one SKU in an order; keeps stock arithmetic inside PostgreSQL `integer` and totals exact in JS. */
export const MAX_LINE_QUANTITY = 1_000_000;

/** `stock_reservations.status` values. */
export const RESERVATION_STATUS = { held: 'held', committed: 'committed', released: 'released' } as const;

interface LockedProduct {
  id: number;
  sku: string;
  status: string;
  price_cents: number;
  stock: number;
}

/** A `stock_reservations` row. */
interface ReservationRow {
  order_id: string;
  product_id: number;
  quantity: number;
  status: (typeof RESERVATION_STATUS)[keyof typeof RESERVATION_STATUS];
  created_at: Date;
  updated_at: Date;
}

interface StoredLine {
  product_id: number;
  sku: string;
  quantity: number;
  unit_price_cents: number;
}

const FOREIGN_KEY_VIOLATION = '23503';

/** Merges repeated SKUs into one line each, keeping the order in which SKUs first appear. */
export function mergeLines(lines: readonly OrderLine[]): OrderLine[] {
  const merged = new Map<string, number>();
  for (const line of lines) merged.set(line.sku, (merged.get(line.sku) ?? 0) + line.quantity);
  return [...merged].map(([sku, quantity]) => ({ sku, quantity }));
}

/** Checks an order's lines and returns them merged by SKU; throws a non-retryable failure saying what is wrong. */
export function validatedRequest(lines: readonly OrderLine[]): OrderLine[] {
  const invalid = (message: string): ApplicationFailure =>
    ApplicationFailure.create({ message, type: ACTIVITY_FAILURE_TYPES.invalidInput, nonRetryable: true });
  if (lines.length === 0) throw invalid('an order needs at least one line');
  for (const line of lines) {
    if (typeof line.sku !== 'string' || line.sku.length === 0) throw invalid('every line needs a sku');
    if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_LINE_QUANTITY) {
      throw invalid(`quantity of ${line.sku} must be an integer from 1 to ${MAX_LINE_QUANTITY}`);
    }
  }
  const merged = mergeLines(lines);
  if (merged.some((line) => line.quantity > MAX_LINE_QUANTITY)) {
    throw invalid(`the total quantity of one sku must not exceed ${MAX_LINE_QUANTITY}`);
  }
  return merged;
}

function reserved(lines: PricedLine[]): ReserveStockResult {
  return {
    status: 'RESERVED',
    totalCents: lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0),
    lines,
  };
}

/** Orders stored lines like the request, so a retry returns exactly what the first call returned. */
function inRequestOrder(stored: StoredLine[], request: OrderLine[]): PricedLine[] {
  const position = new Map(request.map((line, index) => [line.sku, index]));
  return stored
    .map((row) => ({
      sku: row.sku,
      quantity: row.quantity,
      productId: row.product_id,
      unitPriceCents: row.unit_price_cents,
    }))
    .sort((a, b) => (position.get(a.sku) ?? Infinity) - (position.get(b.sku) ?? Infinity) || a.productId - b.productId);
}

/** Thrown inside the transaction when a concurrent duplicate of the same call already reserved: roll back, reuse. */
export class ReservedByDuplicate extends Error {}

/** Reads an order's reservation as stored (any status), or undefined if it has none. */
export async function storedReservation(
  db: Knex | Knex.Transaction,
  orderId: string,
  request: OrderLine[],
): Promise<ReserveStockResult | undefined> {
  const stored = await db(`${TABLES.stockReservations} as r`)
    .join(`${TABLES.orderItems} as i`, function joinItems() {
      this.on('i.order_id', '=', 'r.order_id').andOn('i.product_id', '=', 'r.product_id');
    })
    .where('r.order_id', orderId)
    .select<StoredLine[]>('r.product_id', 'i.sku', 'r.quantity', 'i.unit_price_cents');
  return stored.length > 0 ? reserved(inRequestOrder(stored, request)) : undefined;
}

/**
 * Decides a reservation from the locked products: priced lines, or why it is rejected. `fixedPrices` (SKU -> cents)
 * keeps the prices an order was first reserved at when a Reset run reserves it again.
 */
function decide(
  request: OrderLine[],
  products: LockedProduct[],
  fixedPrices: ReadonlyMap<string, number> = new Map(),
): ReservationOutcome {
  const bySku = new Map(products.map((product) => [product.sku, product]));
  const unknownSkus = request.filter((line) => !bySku.has(line.sku)).map((line) => line.sku);
  if (unknownSkus.length > 0) return { status: 'REJECTED', reason: 'unknown_sku', unknownSkus };
  // The API refuses drafts and archived products up front; one unpublished between that check and this lock is
  // refused here, under the lock, so it is never sold.
  const unavailableSkus = products.filter((product) => product.status !== ORDERABLE_STATUS).map((p) => p.sku);
  if (unavailableSkus.length > 0) return { status: 'REJECTED', reason: 'product_unavailable', unavailableSkus };
  const priced: PricedLine[] = [];
  const shortages: Shortage[] = [];
  for (const line of request) {
    const product = bySku.get(line.sku);
    if (product === undefined) continue; // unreachable: unknown SKUs returned above
    if (product.stock < line.quantity) {
      shortages.push({ sku: line.sku, requested: line.quantity, available: product.stock });
    }
    priced.push({ ...line, productId: product.id, unitPriceCents: fixedPrices.get(line.sku) ?? product.price_cents });
  }
  if (shortages.length > 0) return { status: 'REJECTED', reason: 'insufficient_stock', shortages };
  return reserved(priced);
}

/**
 * Writes a decided reservation in ONE statement (one round trip while the product locks are held): reservations
 * first, ON CONFLICT DO NOTHING, and stock is decremented and items written only for the rows actually inserted, so
 * a duplicate that got here first can never make us decrement twice. Returns how many lines were inserted.
 */
const WRITE_RESERVATION = `
  WITH req AS (
    SELECT * FROM unnest(?::int[], ?::text[], ?::int[], ?::int[]) AS v(product_id, sku, quantity, unit_price_cents)
  ), res AS (
    INSERT INTO ${TABLES.stockReservations} (order_id, product_id, quantity, status)
    SELECT ?::uuid, product_id, quantity, ? FROM req
    ON CONFLICT (order_id, product_id) DO NOTHING
    RETURNING product_id, quantity
  ), dec AS (
    UPDATE ${TABLES.products} AS p SET stock = p.stock - res.quantity, updated_at = now()
      FROM res WHERE p.id = res.product_id
  ), items AS (
    INSERT INTO ${TABLES.orderItems} (order_id, product_id, sku, quantity, unit_price_cents)
    SELECT ?::uuid, req.product_id, req.sku, req.quantity, req.unit_price_cents FROM req JOIN res USING (product_id)
  ), moved AS (${movementsFrom('res', 'reserve')})
  SELECT count(*)::int AS inserted FROM res`;

/** A reservation decided and written inside the caller's transaction (see `reserveInTransaction`). */
export type ReservationDecision = ReservationOutcome;

/**
 * Locks the request's products (ascending id, the global lock order) and, if every line is available, writes the
 * reservation (held), its priced items and the stock decrement in one statement. Business rejections (unknown SKU,
 * short stock) are returned and write nothing. Runs inside the caller's transaction; the caller must make sure no
 * reservation rows of this order exist yet (the order row lock serialises duplicates of one order).
 * Throws `ReservedByDuplicate` when a concurrent duplicate already wrote rows for the order.
 */
export async function reserveInTransaction(
  trx: Knex.Transaction,
  orderId: string,
  request: OrderLine[],
  fixedPrices?: ReadonlyMap<string, number>,
): Promise<ReservationDecision> {
  // One statement finds and locks the products; ORDER BY id makes PostgreSQL lock them in ascending id order, the
  // same order every other transaction here uses, so two orders sharing SKUs can never deadlock.
  const products = await trx<LockedProduct>(TABLES.products)
    .select('id', 'sku', 'status', 'price_cents', 'stock')
    .whereIn(
      'sku',
      request.map((line) => line.sku),
    )
    .orderBy('id')
    .forUpdate();
  const decision = decide(request, products, fixedPrices);
  if (decision.status === 'REJECTED') return decision;
  // A named (prepared) statement: each connection parses and plans it once, not while every order's product locks
  // are held (planning this CTE took ~0.5-1 ms, longer than running it). Needs session-level pooling: behind
  // PgBouncer in transaction mode, enable its max_prepared_statements.
  const written = await trx
    .raw<{ rows: { inserted: number }[] }>(WRITE_RESERVATION, [
      decision.lines.map((line) => line.productId),
      decision.lines.map((line) => line.sku),
      decision.lines.map((line) => line.quantity),
      decision.lines.map((line) => line.unitPriceCents),
      orderId,
      RESERVATION_STATUS.held,
      orderId,
      orderId,
    ])
    .options({ name: 'orderflow_write_reservation' });
  if (written.rows[0]?.inserted !== decision.lines.length) throw new ReservedByDuplicate();
  return decision;
}

/**
 * Clears an order's released reservation so a Reset run can reserve it again: deletes the released rows and the
 * order's items, returning the prices they were reserved at (SKU -> cents) so the new reservation keeps them.
 */
export async function clearReleasedReservation(trx: Knex.Transaction, orderId: string): Promise<Map<string, number>> {
  const items = await trx(TABLES.orderItems)
    .where('order_id', orderId)
    .select<Pick<StoredLine, 'sku' | 'unit_price_cents'>[]>('sku', 'unit_price_cents');
  await trx<ReservationRow>(TABLES.stockReservations)
    .where({ order_id: orderId, status: RESERVATION_STATUS.released })
    .delete();
  await trx(TABLES.orderItems).where({ order_id: orderId }).delete();
  return new Map(items.map((item) => [item.sku, item.unit_price_cents]));
}

/** How an order's reservation lines stand: count of lines per status. */
export async function reservationStatusCounts(
  db: Knex | Knex.Transaction,
  orderId: string,
): Promise<Record<(typeof RESERVATION_STATUS)[keyof typeof RESERVATION_STATUS], number>> {
  const rows = await db<ReservationRow>(TABLES.stockReservations)
    .where({ order_id: orderId })
    .groupBy('status')
    .select<{ status: ReservationRow['status']; lines: number }[]>('status', db.raw('count(*)::int AS lines'));
  const counts = { held: 0, committed: 0, released: 0 };
  for (const row of rows) counts[row.status] = row.lines;
  return counts;
}

/**
 * Returns an order's held stock to the shelf inside the caller's transaction; lines already released or committed
 * are left alone. Returns the lines it released (none on a repeat).
 */
export async function releaseInTransaction(
  trx: Knex.Transaction,
  orderId: string,
): Promise<{ product_id: number; quantity: number }[]> {
  // Locking the order's held rows first makes a concurrent duplicate wait, then see them released and do nothing.
  const held = await trx<ReservationRow>(TABLES.stockReservations)
    .select('product_id', 'quantity')
    .where({ order_id: orderId, status: RESERVATION_STATUS.held })
    .orderBy('product_id')
    .forUpdate();
  if (held.length === 0) return [];
  const productIds = held.map((row) => row.product_id);
  // Products in ascending id order, as reservations lock them; an UPDATE ... FROM would lock them in plan order.
  await trx(TABLES.products).select('id').whereIn('id', productIds).orderBy('id').forUpdate();
  await trx.raw(
    `UPDATE ${TABLES.products} AS p SET stock = p.stock + v.quantity, updated_at = now()
       FROM unnest(?::int[], ?::int[]) AS v(id, quantity) WHERE p.id = v.id`,
    [productIds, held.map((row) => row.quantity)],
  );
  await trx<ReservationRow>(TABLES.stockReservations)
    .where({ order_id: orderId, status: RESERVATION_STATUS.held })
    .whereIn('product_id', productIds)
    .update({ status: RESERVATION_STATUS.released, updated_at: trx.fn.now() });
  await recordMovements(
    trx,
    held.map((r) => ({ productId: r.product_id, kind: 'release' as const, quantity: r.quantity, orderId })),
  );
  return held;
}

/** Makes an order's held stock permanent inside the caller's transaction; returns how many lines it committed. */
export async function commitInTransaction(trx: Knex | Knex.Transaction, orderId: string): Promise<number> {
  // One UPDATE locks the rows it changes; a concurrent duplicate re-checks `status = held` after the lock and skips.
  const result = await trx.raw<{ rows: { committed: number }[] }>(
    `WITH c AS (UPDATE ${TABLES.stockReservations} SET status = ?, updated_at = now()
                 WHERE order_id = ? AND status = ? RETURNING product_id, quantity),
          moved AS (${movementsFrom('c', 'commit')})
     SELECT count(*)::int AS committed FROM c`,
    [RESERVATION_STATUS.committed, orderId, RESERVATION_STATUS.held, orderId],
  );
  return result.rows[0]?.committed ?? 0;
}

/** Builds the inventory activities: `reserveStock`, `releaseStock`, `commitStock`. */
export function createInventoryActivities({ db, logger }: InventoryDeps) {
  /**
   * Holds stock for every line of an order, or for none. Requires the order row (`recordOrder`) because the priced
   * lines are written to `order_items` in the same transaction. Unknown SKUs and shortages are business outcomes
   * (REJECTED), returned rather than thrown, and write nothing. A retry returns the stored reservation unchanged.
   *
   * While the product rows are locked we do exactly two round trips (lock, write) before COMMIT: on a hot SKU every
   * order queues on that lock, so its hold time is the throughput limit.
   */
  async function reserveStock({ orderId, lines }: ReserveStockInput): Promise<ReserveStockResult> {
    const request = validatedRequest(lines);
    // A retry of a call that committed finds its result here, without touching any lock.
    const earlier = await storedReservation(db, orderId, request);
    if (earlier !== undefined) return earlier;
    try {
      const outcome = await db.transaction(async (trx): Promise<ReservationOutcome> => {
        const decision = await reserveInTransaction(trx, orderId, request);
        if (decision.status === 'REJECTED') {
          // A concurrent duplicate of this call may have reserved (taking the stock we now miss) while we waited.
          return (await storedReservation(trx, orderId, request)) ?? decision;
        }
        return decision;
      });
      logger.debug('reservation decided', { orderId, status: outcome.status });
      return outcome;
    } catch (error) {
      if (error instanceof ReservedByDuplicate) {
        // Rolled back; the duplicate committed before we got the locks, so its reservation is there to return.
        const stored = await storedReservation(db, orderId, request);
        if (stored !== undefined) return stored;
      }
      // order_items references orders: without the order row this call can never succeed, so retrying is pointless.
      if ((error as { code?: unknown }).code === FOREIGN_KEY_VIOLATION) {
        throw orderNotRecordedFailure(orderId, 'call recordOrder first');
      }
      throw error;
    }
  }

  /** Returns an order's held stock (compensation); lines already released or committed are left alone. */
  async function releaseStock(orderId: string): Promise<ReleaseStockResult> {
    const released = (await db.transaction((trx) => releaseInTransaction(trx, orderId))).length;
    if (released > 0) logger.info('stock released', { orderId, lines: released });
    return { released };
  }

  /** Makes an order's held stock permanent (the order completed); a retry finds nothing held and does nothing. */
  async function commitStock(orderId: string): Promise<CommitStockResult> {
    const committed = await commitInTransaction(db, orderId);
    if (committed > 0) logger.info('stock committed', { orderId, lines: committed });
    return { committed };
  }

  return { reserveStock, releaseStock, commitStock };
}
