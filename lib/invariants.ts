/**
 * The data invariants of docs/design.md, checked against the database by tests, the benchmark and chaos runs:
 * stock is conserved, never negative, equal to the sum of its ledger movements, every COMPLETED order was paid exactly
 * once for its total (a zero-total order: never), no order holds two approved payments, stock is committed exactly
 * for COMPLETED orders, no failed, rejected or cancelled order keeps stock held or money captured, and an order's row
 * is its newest event (invariants 1-5 of docs/design.md; the search attribute half of 4 needs Temporal and is checked
 * by the reset sweep, chaos/reset-sweep.ts).
 */
import type { Knex } from 'knex';
import type { OrderStatus } from '../workflows/definitions';
import { SNAPSHOT, TABLES } from './db';

/** Which invariant a violation breaks. */
export type InvariantName =
  | 'stock_conserved'
  | 'stock_non_negative'
  | 'stock_ledger'
  | 'completed_paid_once'
  | 'charged_once'
  | 'compensated'
  | 'committed_iff_completed'
  | 'row_is_newest_event';

/** One broken invariant on one product or order. */
export interface InvariantViolation {
  invariant: InvariantName;
  /** The SKU or order id concerned. */
  subject: string;
  message: string;
}

/** A violation as one line: `<invariant> <subject>: <message>` (bench and chaos reports). */
export function formatViolation(v: InvariantViolation): string {
  return `${v.invariant} ${v.subject}: ${v.message}`;
}

/** What to check; without a scope every product and order in the database is checked. */
export interface InvariantScope {
  /** Stock of each SKU before the run; enables the conservation check for those SKUs. */
  initialStock?: ReadonlyMap<string, number>;
  /** Limits product checks to these SKUs (plus those of `initialStock`), and order checks to orders touching them. */
  skus?: readonly string[];
  /** Limits order checks to these orders (takes precedence over the SKU scope for orders). */
  orderIds?: readonly string[];
  /**
   * Whether to check stock against its ledger; false only for a database from before the ledger existed (`npm run
   * bench -- --compare` against an older revision). @default true
   */
  ledger?: boolean;
}

const FAILED_STATUSES: readonly OrderStatus[] = ['FAILED', 'REJECTED', 'CANCELLED'];
const COMPLETED: OrderStatus = 'COMPLETED';

async function rows<T>(db: Knex, sql: string, bindings: readonly Knex.RawBinding[]): Promise<T[]> {
  const result = await db.raw<{ rows: T[] }>(sql, bindings);
  return result.rows;
}

/**
 * Returns every violation found; an empty list means the invariants hold for the scope. Every check reads one
 * snapshot (a read-only REPEATABLE READ transaction), so a step committing meanwhile cannot make two checks disagree.
 */
export function checkInvariants(db: Knex, scope: InvariantScope = {}): Promise<InvariantViolation[]> {
  return db.transaction((trx) => checkSnapshot(trx, scope), SNAPSHOT);
}

async function checkSnapshot(db: Knex.Transaction, scope: InvariantScope): Promise<InvariantViolation[]> {
  const violations: InvariantViolation[] = [];
  const skuScope =
    scope.skus === undefined && scope.initialStock === undefined
      ? null
      : [...new Set([...(scope.skus ?? []), ...(scope.initialStock?.keys() ?? [])])];

  if (scope.initialStock !== undefined && scope.initialStock.size > 0) {
    const counted = await rows<{ sku: string; stock: number; reserved: number }>(
      db,
      `SELECT p.sku, p.stock,
              COALESCE(SUM(r.quantity) FILTER (WHERE r.status IN ('held', 'committed')), 0)::int AS reserved
         FROM ${TABLES.products} p
         LEFT JOIN ${TABLES.stockReservations} r ON r.product_id = p.id
        WHERE p.sku = ANY(?::text[])
        GROUP BY p.id, p.sku, p.stock`,
      [[...scope.initialStock.keys()]],
    );
    const bySku = new Map(counted.map((row) => [row.sku, row]));
    for (const [sku, initial] of scope.initialStock) {
      const row = bySku.get(sku);
      if (row === undefined) {
        violations.push({ invariant: 'stock_conserved', subject: sku, message: `product ${sku} no longer exists` });
      } else if (row.stock + row.reserved !== initial) {
        violations.push({
          invariant: 'stock_conserved',
          subject: sku,
          message: `initial stock ${initial} != stock ${row.stock} + held/committed ${row.reserved}`,
        });
      }
    }
  }

  const negative = await rows<{ sku: string; stock: number }>(
    db,
    `SELECT sku, stock FROM ${TABLES.products} WHERE stock < 0 AND (?::text[] IS NULL OR sku = ANY(?::text[]))`,
    [skuScope, skuScope],
  );
  for (const row of negative) {
    violations.push({ invariant: 'stock_non_negative', subject: row.sku, message: `stock is ${row.stock}` });
  }

  // The ledger: stock = sum of movements, for the SKUs in scope, else the products the scoped orders reserved, else all.
  const orderScope = scope.orderIds === undefined ? null : [...scope.orderIds];
  const unbalanced =
    scope.ledger === false
      ? []
      : await rows<{ sku: string; stock: number; ledger: string }>(
          db,
          `SELECT p.sku, p.stock, COALESCE((SELECT SUM(m.quantity) FROM ${TABLES.inventoryMovements} m
                                       WHERE m.product_id = p.id), 0) AS ledger
       FROM ${TABLES.products} p
      WHERE (?::text[] IS NULL OR p.sku = ANY(?::text[]))
        AND (?::text[] IS NOT NULL OR ?::uuid[] IS NULL OR p.id IN (
              SELECT r.product_id FROM ${TABLES.stockReservations} r WHERE r.order_id = ANY(?::uuid[])))`,
          [skuScope, skuScope, skuScope, orderScope, orderScope],
        );
  for (const row of unbalanced) {
    if (Number(row.ledger) !== row.stock) {
      violations.push({
        invariant: 'stock_ledger',
        subject: row.sku,
        message: `stock ${row.stock} != sum of its inventory movements ${row.ledger}`,
      });
    }
  }

  // Orders in scope: the given ids, else orders that reserved any SKU in scope, else all.
  const scoped = `SELECT o.id, o.status, o.status_seq, o.total_cents FROM ${TABLES.orders} o
     WHERE (?::uuid[] IS NULL OR o.id = ANY(?::uuid[]))
       AND (?::uuid[] IS NOT NULL OR ?::text[] IS NULL OR EXISTS (
             SELECT 1 FROM ${TABLES.stockReservations} r JOIN ${TABLES.products} p ON p.id = r.product_id
              WHERE r.order_id = o.id AND p.sku = ANY(?::text[])))`;
  const scopeBindings = [orderScope, orderScope, orderScope, skuScope, skuScope];

  const unpaid = await rows<{ id: string; total_cents: string; approved: number; approved_cents: string | null }>(
    db,
    `WITH scoped AS (${scoped})
     SELECT s.id, s.total_cents,
            COUNT(pay.id) FILTER (WHERE pay.status = 'approved')::int AS approved,
            SUM(pay.amount_cents) FILTER (WHERE pay.status = 'approved') AS approved_cents
       FROM scoped s LEFT JOIN ${TABLES.payments} pay ON pay.order_id = s.id
      WHERE s.status = ?
      GROUP BY s.id, s.total_cents
     HAVING (s.total_cents = 0 AND COUNT(pay.id) FILTER (WHERE pay.status = 'approved') <> 0)
         OR (s.total_cents > 0 AND (COUNT(pay.id) FILTER (WHERE pay.status = 'approved') <> 1
             OR SUM(pay.amount_cents) FILTER (WHERE pay.status = 'approved') <> s.total_cents))`,
    [...scopeBindings, COMPLETED],
  );
  for (const row of unpaid) {
    violations.push({
      invariant: 'completed_paid_once',
      subject: row.id,
      message: `COMPLETED with ${row.approved} approved payment(s) totalling ${row.approved_cents ?? 0}, order total ${row.total_cents}`,
    });
  }

  const uncompensated = await rows<{ id: string; status: OrderStatus; held: boolean; charged: boolean }>(
    db,
    `WITH scoped AS (${scoped})
     SELECT * FROM (
       SELECT s.id, s.status,
              EXISTS (SELECT 1 FROM ${TABLES.stockReservations} r WHERE r.order_id = s.id AND r.status = 'held') AS held,
              EXISTS (SELECT 1 FROM ${TABLES.payments} pay WHERE pay.order_id = s.id AND pay.status = 'approved') AS charged
         FROM scoped s WHERE s.status = ANY(?::text[])
     ) t WHERE held OR charged`,
    [...scopeBindings, [...FAILED_STATUSES]],
  );
  for (const row of uncompensated) {
    const kept = [row.held ? 'held stock' : '', row.charged ? 'an unrefunded approved payment' : ''].filter(Boolean);
    violations.push({
      invariant: 'compensated',
      subject: row.id,
      message: `${row.status} order keeps ${kept.join(' and ')}`,
    });
  }

  // Stock is committed exactly when the order is COMPLETED (a zero-total order too): never for another status, and a
  // COMPLETED order holds nothing and has committed every line it reserved.
  const commitments = await rows<{ id: string; status: OrderStatus; committed: number; held: number }>(
    db,
    `WITH scoped AS (${scoped})
     SELECT s.id, s.status,
            COUNT(r.order_id) FILTER (WHERE r.status = 'committed')::int AS committed,
            COUNT(r.order_id) FILTER (WHERE r.status = 'held')::int AS held
       FROM scoped s LEFT JOIN ${TABLES.stockReservations} r ON r.order_id = s.id
      GROUP BY s.id, s.status
     HAVING (s.status = ? AND (COUNT(r.order_id) FILTER (WHERE r.status = 'committed') = 0
                               OR COUNT(r.order_id) FILTER (WHERE r.status = 'held') > 0))
         OR (s.status <> ? AND COUNT(r.order_id) FILTER (WHERE r.status = 'committed') > 0)`,
    [...scopeBindings, COMPLETED, COMPLETED],
  );
  for (const row of commitments) {
    violations.push({
      invariant: 'committed_iff_completed',
      subject: row.id,
      message: `${row.status} order with ${row.committed} committed and ${row.held} held line(s)`,
    });
  }

  // Nothing is charged twice, whatever the status: at most one approved (captured, not refunded) payment per order.
  const doubled = await rows<{ id: string; status: OrderStatus; approved: number }>(
    db,
    `WITH scoped AS (${scoped})
     SELECT s.id, s.status, COUNT(*)::int AS approved
       FROM scoped s JOIN ${TABLES.payments} pay ON pay.order_id = s.id AND pay.status = 'approved'
      GROUP BY s.id, s.status HAVING COUNT(*) > 1`,
    scopeBindings,
  );
  for (const row of doubled) {
    violations.push({
      invariant: 'charged_once',
      subject: row.id,
      message: `${row.status} order holds ${row.approved} approved payments`,
    });
  }

  // The row is the newest event: orders.status and orders.status_seq are those of the event with the highest seq.
  // (Every placement writes the row and its PENDING event in one transaction; rows without any event are fixtures.)
  const drifted = await rows<{ id: string; status: OrderStatus; status_seq: number; newest: OrderStatus; seq: number }>(
    db,
    `WITH scoped AS (${scoped})
     SELECT s.id, s.status, s.status_seq, e.status AS newest, e.seq
       FROM scoped s
       JOIN LATERAL (SELECT ev.status, ev.seq FROM ${TABLES.orderEvents} ev
                      WHERE ev.order_id = s.id ORDER BY ev.seq DESC LIMIT 1) e ON true
      WHERE s.status <> e.status OR s.status_seq <> e.seq`,
    scopeBindings,
  );
  for (const row of drifted) {
    violations.push({
      invariant: 'row_is_newest_event',
      subject: row.id,
      message: `order row says ${row.status} (seq ${row.status_seq}), its newest event ${row.newest} (seq ${row.seq})`,
    });
  }
  return violations;
}
