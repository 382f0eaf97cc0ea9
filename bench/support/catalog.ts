/**
 * The bench's own data: products with ample stock (nothing is rejected), the end-of-scenario check of the
 * docs/design.md invariants, PostgreSQL's deadlock counter, and the removal of bench rows from a database not its own.
 */
import type { Knex } from 'knex';
import { TABLES } from '../../lib/db';
import { checkInvariants, type InvariantViolation } from '../../lib/invariants';
import { insertProductsWithLedger } from '../../lib/ledger';
import { paymentIdempotencyKey, TERMINAL_STATUSES } from '../../workflows/definitions';
import { sleep } from '../../lib/sleep';

const BENCH_PRICE_CENTS = 1000;

/** Stock of every bench product unless told: far more than a run can order. */
export const AMPLE_STOCK = 10_000_000;

/** Calls `fn` on consecutive slices of `items` of at most `size` (statements stay within PostgreSQL's limits). */
async function inChunks<T>(items: readonly T[], size: number, fn: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await fn(items.slice(i, i + size));
}

/** Creates `count` products named `<prefix>-0000`... with `stock` each; returns their SKUs. */
export async function createProducts(db: Knex, prefix: string, count: number, stock = AMPLE_STOCK): Promise<string[]> {
  const skus = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  // `--compare` runs this code against an older revision's database too, which may predate the inventory ledger.
  const hasLedger = await db.schema.hasTable(TABLES.inventoryMovements);
  await inChunks(skus, 500, async (chunk) => {
    const products = chunk.map((sku) => ({ sku, name: `bench ${sku}`, priceCents: BENCH_PRICE_CENTS, stock }));
    if (hasLedger) return insertProductsWithLedger(db, products);
    const rows = products.map((p) => ({ sku: p.sku, name: p.name, price_cents: p.priceCents, stock: p.stock }));
    return db(TABLES.products).insert(rows);
  });
  return skus;
}

/** Inserts PENDING order rows (no lines, total 0) for scenarios that write under them without the saga. */
export async function insertBenchOrders(
  db: Knex,
  orders: readonly { id: string; customerId: string }[],
): Promise<void> {
  const rows = orders.map(({ id, customerId }) => ({
    id,
    customer_id: customerId,
    status: 'PENDING',
    total_cents: 0,
    request_hash: 'bench',
    workflow_id: `bench-${id}`,
  }));
  await inChunks(rows, 1000, (chunk) => db(TABLES.orders).insert(chunk));
}

/** What the end-of-scenario check found, and the orders of the scenario's customers by status. */
export interface RunCheck {
  violations: InvariantViolation[];
  statuses: Record<string, number>;
}

/** Checks the docs/design.md invariants on the scenario's products and on the orders of its customers. */
export async function checkRun(
  db: Knex,
  initialStock: ReadonlyMap<string, number>,
  customerPrefix: string,
): Promise<RunCheck> {
  const orders = await db(TABLES.orders)
    .where('customer_id', 'like', `${customerPrefix}%`)
    .select<{ id: string; status: string }[]>('id', 'status');
  const violations = await checkInvariants(db, {
    initialStock,
    orderIds: orders.map((order) => order.id),
    // `--compare` runs this code against an older revision's database too, which may predate the inventory ledger.
    ledger: await db.schema.hasTable(TABLES.inventoryMovements),
  });
  const statuses: Record<string, number> = {};
  for (const order of orders) statuses[order.status] = (statuses[order.status] ?? 0) + 1;
  return { violations, statuses };
}

/** Waits (bounded) until every order of `customerPrefix` is in a terminal status; returns how many are not. */
export async function settle(db: Knex, customerPrefix: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await db(TABLES.orders)
      .where('customer_id', 'like', `${customerPrefix}%`)
      .whereNotIn('status', TERMINAL_STATUSES)
      .count<{ count: string }[]>({ count: '*' });
    const open = Number(row?.count ?? 0);
    if (open === 0 || Date.now() > deadline) return open;
    await sleep(250);
  }
}

/**
 * `pg_stat_database.deadlocks` of the current database. `flush` waits first until the statistics of the sessions
 * that just went idle are visible (backends flush them at most once a second).
 */
export async function deadlockCount(db: Knex, flush: boolean): Promise<number> {
  if (flush) await sleep(1500);
  await db.raw('SELECT pg_stat_clear_snapshot()');
  const result = await db.raw<{ rows: { deadlocks: string }[] }>(
    'SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(result.rows[0]?.deadlocks ?? 0);
}

/**
 * Removes bench rows from a database the bench does not own: the orders of the customers named `customerPrefix...`
 * and of every reservation of `skus` (the minimal writes no orders row), every row hanging off them, then the products.
 */
export async function removeBenchRows(
  db: Knex,
  { customerPrefix, skus }: { customerPrefix?: string; skus: readonly string[] },
): Promise<void> {
  const products = db(TABLES.products).select('id').whereIn('sku', skus);
  const reserved = db(TABLES.stockReservations).select('order_id').whereIn('product_id', products);
  const ids =
    customerPrefix === undefined
      ? reserved
      : reserved.union(db(TABLES.orders).select('id').where('customer_id', 'like', `${customerPrefix}%`));
  const keys = ((await ids.clone()) as { order_id: string }[]).map((row) => paymentIdempotencyKey(row.order_id));
  await inChunks(keys, 1000, (chunk) => db(TABLES.paymentAttempts).whereIn('idempotency_key', chunk).delete());
  // Reservations last: `ids` reads them.
  for (const table of [TABLES.payments, TABLES.orderEvents, TABLES.orderItems, TABLES.stockReservations]) {
    await db(table).whereIn('order_id', ids.clone()).delete();
  }
  if (customerPrefix !== undefined) await db(TABLES.orders).where('customer_id', 'like', `${customerPrefix}%`).delete();
  await inChunks(skus, 1000, (chunk) => db(TABLES.products).whereIn('sku', chunk).delete());
}
