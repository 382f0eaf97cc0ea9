/**
 * The bench's own data: products it creates (ample stock, so nothing is rejected), the end-of-scenario check of the
 * docs/design.md invariants (`checkInvariants`) plus the outcome of every order, PostgreSQL's deadlock counter, and the removal
 * of bench rows from a database the bench does not own.
 */
import type { Knex } from 'knex';
import { TABLES } from '../../lib/db';
import { checkInvariants, type InvariantViolation } from '../../lib/invariants';
import { insertProductsWithLedger } from '../../lib/ledger';
import { paymentIdempotencyKey, TERMINAL_STATUSES } from '../../workflows/definitions';

/** Price of every bench product. */
const BENCH_PRICE_CENTS = 1000;

/** Stock of every bench product unless told: far more than a run can order. */
export const AMPLE_STOCK = 10_000_000;

/** Creates `count` products named `<prefix>-0000`... with `stock` each; returns their SKUs. */
export async function createProducts(db: Knex, prefix: string, count: number, stock = AMPLE_STOCK): Promise<string[]> {
  const skus = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  // `--compare` runs this code against an older revision's database too, which may predate the inventory ledger.
  const hasLedger = await db.schema.hasTable(TABLES.inventoryMovements);
  for (let i = 0; i < skus.length; i += 500) {
    const products = skus
      .slice(i, i + 500)
      .map((sku) => ({ sku, name: `bench ${sku}`, priceCents: BENCH_PRICE_CENTS, stock }));
    if (hasLedger) await insertProductsWithLedger(db, products);
    else {
      await db(TABLES.products).insert(
        products.map((p) => ({ sku: p.sku, name: p.name, price_cents: p.priceCents, stock: p.stock })),
      );
    }
  }
  return skus;
}

/** Inserts PENDING order rows (no lines, total 0) for scenarios that write under them without the saga. */
export async function insertBenchOrders(
  db: Knex,
  orders: readonly { id: string; customerId: string }[],
): Promise<void> {
  for (let i = 0; i < orders.length; i += 1000) {
    await db(TABLES.orders).insert(
      orders.slice(i, i + 1000).map(({ id, customerId }) => ({
        id,
        customer_id: customerId,
        status: 'PENDING',
        total_cents: 0,
        request_hash: 'bench',
        workflow_id: `bench-${id}`,
      })),
    );
  }
}

/** What the end-of-scenario check found. */
export interface RunCheck {
  violations: InvariantViolation[];
  /** Orders of the scenario's customers by status. */
  statuses: Record<string, number>;
}

/**
 * Checks the docs/design.md invariants on the scenario's products (stock conserved from `initialStock`, never negative) and
 * on the orders of its customers (COMPLETED paid exactly once, failures compensated), and counts those orders by
 * status. An order that did not reach a terminal status is reported as a violation too: the scenario waited for all.
 */
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
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * `pg_stat_database.deadlocks` of the current database. `flush` waits first until the statistics of the sessions
 * that just went idle are visible (backends flush them at most once a second).
 */
export async function deadlockCount(db: Knex, flush: boolean): Promise<number> {
  if (flush) await new Promise((resolve) => setTimeout(resolve, 1500));
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
  for (let i = 0; i < keys.length; i += 1000) {
    await db(TABLES.paymentAttempts)
      .whereIn('idempotency_key', keys.slice(i, i + 1000))
      .delete();
  }
  // Reservations last: `ids` reads them.
  for (const table of [TABLES.payments, TABLES.orderEvents, TABLES.orderItems, TABLES.stockReservations]) {
    await db(table).whereIn('order_id', ids.clone()).delete();
  }
  if (customerPrefix !== undefined) await db(TABLES.orders).where('customer_id', 'like', `${customerPrefix}%`).delete();
  for (let i = 0; i < skus.length; i += 1000) {
    await db(TABLES.products)
      .whereIn('sku', skus.slice(i, i + 1000))
      .delete();
  }
}
