/**
 * Stock reservations on PostgreSQL. Every activity is one short transaction that takes row locks in one global order
 * (products by ascending id), so concurrent orders queue on a hot SKU instead of deadlocking, and every write is keyed
 * by the order id, so a retried activity finds its own earlier work and changes nothing.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { RESERVATION_STATUS, type ReservationRow } from '../lib/rows';

export { RESERVATION_STATUS } from '../lib/rows';
import { fieldIssues } from '../lib/field-issues';
import { orderLinesSchema } from '../lib/order-lines';
import type { ProductStock } from '../lib/stock-events';
import { recordMovements } from './ledger';
import type { Logger } from '../lib/logger';
import type { OrderLine, PricedLine, ReservationOutcome } from '../workflows/definitions';
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

interface StoredLine {
  product_id: number;
  sku: string;
  quantity: number;
  unit_price_cents: number;
}

const FOREIGN_KEY_VIOLATION = '23503';

/** SQLSTATE raised by `orderflow_reserve` when the order already holds reservation rows (migration 20261130120000). */
const ALREADY_RESERVED = 'OF001';

/**
 * Checks an order's lines against the order-line contract (lib/order-lines.ts: 1-50 lines, quantities 1-1000, one
 * line per SKU) and returns them as parsed; throws a non-retryable `InvalidActivityInput` saying what is wrong.
 * An order's lines are `items` in the HTTP API and `lines` everywhere behind it (`OrderLine`, priced: `PricedLine`).
 */
export function validatedLines(lines: readonly OrderLine[]): OrderLine[] {
  const parsed = orderLinesSchema.safeParse(lines, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw ApplicationFailure.create({
    message: fieldIssues(parsed.error, { whole: '' })
      .map((issue) => `lines${issue.field}: ${issue.message}`)
      .join('; '),
    type: ACTIVITY_FAILURE_TYPES.invalidInput,
    nonRetryable: true,
  });
}

function reserved(lines: PricedLine[]): ReserveStockResult {
  return {
    status: 'RESERVED',
    totalCents: lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0),
    lines,
  };
}

/** Orders stored lines like the order's lines, so a retry returns exactly what the first call returned. */
function inLineOrder(stored: StoredLine[], lines: OrderLine[]): PricedLine[] {
  const position = new Map(lines.map((line, index) => [line.sku, index]));
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
  lines: OrderLine[],
): Promise<ReserveStockResult | undefined> {
  const stored = await db(`${TABLES.stockReservations} as r`)
    .join(`${TABLES.orderItems} as i`, function joinItems() {
      this.on('i.order_id', '=', 'r.order_id').andOn('i.product_id', '=', 'r.product_id');
    })
    .where('r.order_id', orderId)
    .select<StoredLine[]>('r.product_id', 'i.sku', 'r.quantity', 'i.unit_price_cents');
  return stored.length > 0 ? reserved(inLineOrder(stored, lines)) : undefined;
}

/** A product's stock after a reservation took from it (`orderflow_reserve`'s `stocks`). */
export type StockAfter = ProductStock & { productId: number };

/** A reservation decided (and, if RESERVED, written): `orderflow_reserve`'s result. */
export interface ReserveResult {
  /** What the `reservation` update answers. */
  outcome: ReservationOutcome;
  /** Each reserved product's stock after the decrement; absent when REJECTED. */
  stocks?: StockAfter[];
}

/**
 * Decides and writes a reservation in one round trip: `orderflow_reserve` (migration 20261130120000) locks the
 * request's products in ascending id order (the global lock order, so two orders sharing SKUs queue instead of
 * deadlocking), refuses unknown SKUs, unpublished products and shortages (REJECTED, writing nothing), else writes
 * the held reservation, its priced items, the stock decrement and the `reserve` movements. `fixedPrices` (SKU ->
 * cents) keeps the prices an order was first reserved at when a Reset run reserves it again. Runs inside the
 * caller's transaction; throws `ReservedByDuplicate` when the order already holds reservation rows.
 */
export async function reserveInTransaction(
  trx: Knex.Transaction,
  orderId: string,
  lines: OrderLine[],
  fixedPrices?: ReadonlyMap<string, number>,
): Promise<ReserveResult> {
  try {
    const result = await trx.raw<{ rows: { result: ReserveResult }[] }>(
      'SELECT orderflow_reserve(?::uuid, ?::text[], ?::integer[], ?::jsonb) AS result',
      [
        orderId,
        lines.map((line) => line.sku),
        lines.map((line) => line.quantity),
        fixedPrices === undefined ? null : JSON.stringify(Object.fromEntries(fixedPrices)),
      ],
    );
    const reserved = result.rows[0]?.result;
    if (reserved === undefined) throw new Error(`orderflow_reserve returned nothing for order ${orderId}`);
    return reserved;
  } catch (error) {
    if ((error as { code?: unknown }).code === ALREADY_RESERVED) throw new ReservedByDuplicate();
    throw error;
  }
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
    'SELECT orderflow_commit_stock(?::uuid) AS committed',
    [orderId],
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
   * While the product rows are locked there is one round trip (`orderflow_reserve`) before COMMIT: on a hot SKU
   * every order queues on that lock, so its hold time is the throughput limit.
   */
  async function reserveStock({ orderId, lines }: ReserveStockInput): Promise<ReserveStockResult> {
    validatedLines(lines);
    // A retry of a call that committed finds its result here, without touching any lock.
    const earlier = await storedReservation(db, orderId, lines);
    if (earlier !== undefined) return earlier;
    try {
      const outcome = await db.transaction(async (trx): Promise<ReservationOutcome> => {
        const decision = (await reserveInTransaction(trx, orderId, lines)).outcome;
        if (decision.status === 'REJECTED') {
          // A concurrent duplicate of this call may have reserved (taking the stock we now miss) while we waited.
          return (await storedReservation(trx, orderId, lines)) ?? decision;
        }
        return decision;
      });
      logger.debug('reservation decided', { orderId, status: outcome.status });
      return outcome;
    } catch (error) {
      if (error instanceof ReservedByDuplicate) {
        // Rolled back; the duplicate committed before we got the locks, so its reservation is there to return.
        const stored = await storedReservation(db, orderId, lines);
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
