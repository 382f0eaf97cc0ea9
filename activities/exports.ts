/**
 * The export activities: count the orders an export covers, write one CSV page of them (one row per order line) to
 * EXPORTS_DIR, and record the outcome. A page is keyed by (export, page number): its file is written under a
 * temporary name and renamed, then its `export_pages` row is inserted, so a retry after a worker died finds the row
 * and returns it, or rewrites the same file from the same keyset position; no row is ever exported twice.
 * Progress goes to the `exports` row and to the admin channel as `export.progress`.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { exportDirectory, exportPageFile, toCsv } from '../lib/export-files';
import { EXPORT_PROGRESS_EVENT, publishAdminEvent, type ExportStatus } from '../lib/events';
import type { Logger } from '../lib/logger';
import {
  EXPORT_NOT_FOUND_FAILURE,
  type ExportCursor,
  type ExportFilters,
  type ExportPageInput,
  type ExportPageResult,
  type FinishExportInput,
} from '../workflows/export-definitions';
import { currentAttempt } from './attempt';

/**
 * How long one `prepareExport` attempt waits at most for the transactions open at the export's cutoff to end, in ms
 * (and at most a third of the attempt's start-to-close timeout); past it the attempt fails and Temporal retries it.
 */
export const OPEN_AT_CUTOFF_WAIT_MS = 10_000;

/** Dependencies of the export activities. */
export interface ExportDeps {
  db: Knex;
  redis: Redis;
  redisKeyPrefix: string;
  /** Where pages are written (`EXPORTS_DIR`). */
  exportsDir: string;
  logger: Logger;
}

interface ExportRow {
  id: string;
  status: ExportStatus;
  filters: ExportFilters;
  cutoff: Date;
  orders_total: number | null;
  orders_done: number;
  rows: number;
  pages: number;
}

interface PageRow {
  page: number;
  orders: number;
  rows: number;
  last_created_at: string | null;
  last_order_id: string | null;
}

interface LineRow {
  id: string;
  created_key: string;
  customer_id: string;
  status: string;
  currency: string;
  sku: string | null;
  quantity: number | null;
  unit_price_cents: number | null;
}

/** WHERE clause of the orders an export covers (alias `o`), with its bindings. */
function coveredOrders(row: ExportRow): { sql: string; bindings: Knex.RawBinding[] } {
  const f = row.filters;
  return {
    sql: `o.created_at <= ?::timestamptz
      AND (?::text IS NULL OR o.status = ?::text)
      AND (?::text IS NULL OR o.customer_id = ?::text)
      AND (?::timestamptz IS NULL OR o.created_at >= ?::timestamptz)
      AND (?::timestamptz IS NULL OR o.created_at < ?::timestamptz)`,
    bindings: [
      row.cutoff,
      f.status ?? null,
      f.status ?? null,
      f.customerId ?? null,
      f.customerId ?? null,
      f.from ?? null,
      f.from ?? null,
      f.to ?? null,
      f.to ?? null,
    ],
  };
}

function missing(exportId: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `export ${exportId} does not exist`,
    type: EXPORT_NOT_FOUND_FAILURE,
    nonRetryable: true,
  });
}

function resultOf(row: PageRow, pageSize: number): ExportPageResult {
  return {
    page: row.page,
    orders: row.orders,
    rows: row.rows,
    last:
      row.last_created_at !== null && row.last_order_id !== null
        ? { createdAt: row.last_created_at, orderId: row.last_order_id }
        : null,
    done: row.orders < pageSize,
  };
}

/** Builds the export activities. */
export function createExportActivities({ db, redis, redisKeyPrefix, exportsDir, logger }: ExportDeps) {
  const load = async (exportId: string): Promise<ExportRow> => {
    const row = await db(TABLES.exports).where({ id: exportId }).first<ExportRow | undefined>();
    if (row === undefined) throw missing(exportId);
    return row;
  };

  const progressOf = (row: Pick<ExportRow, 'orders_total' | 'orders_done' | 'status'>): number => {
    if (row.status === 'completed') return 1;
    if (row.orders_total === null || row.orders_total === 0) return 0;
    return Math.min(1, row.orders_done / row.orders_total);
  };

  const publishProgress = async (row: ExportRow): Promise<void> => {
    try {
      await publishAdminEvent(redis, redisKeyPrefix, {
        event: EXPORT_PROGRESS_EVENT,
        payload: {
          exportId: row.id,
          status: row.status,
          rows: row.rows,
          progress: progressOf(row),
          at: new Date().toISOString(),
        },
      });
    } catch (error) {
      logger.warn('export progress not published', { exportId: row.id, err: error });
    }
  };

  /**
   * Waits until no transaction that began at or before `cutoff` is still open in this database. An order's
   * `created_at` is its transaction's start (`now()`), so an order placed before the cutoff may commit after it, e.g.
   * after waiting for a product row lock; reading pages before it commits would leave it out of the export for good.
   * Once every such transaction has ended, each order with `created_at <= cutoff` is committed (or never will be).
   * Reads `pg_stat_activity` (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW):
   * the role must see the other sessions' `xact_start`, as it does for sessions of its own role. Throws a retryable
   * failure naming the oldest such transaction when it outlasts the wait.
   */
  async function awaitTransactionsOpenAt(exportId: string, cutoff: Date): Promise<void> {
    const waitMs = Math.min(OPEN_AT_CUTOFF_WAIT_MS, currentAttempt().startToCloseMs / 3);
    const deadline = Date.now() + waitMs;
    let logged = false;
    for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
      const open = await db.raw<{ rows: { pid: number; application_name: string; xact_start: Date }[] }>(
        `SELECT pid, application_name, xact_start FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            AND xact_start <= ?::timestamptz
          ORDER BY xact_start`,
        [cutoff],
      );
      const oldest = open.rows[0];
      if (oldest === undefined) return;
      const what = `${open.rows.length} transaction(s) open since before the cutoff (oldest: pid ${oldest.pid}, since ${oldest.xact_start.toISOString()})`;
      if (!logged) {
        logger.info('export waits for transactions open at its cutoff', { exportId, open: open.rows.length });
        logged = true;
      }
      if (Date.now() + pause > deadline) {
        throw ApplicationFailure.retryable(`export ${exportId} waits for ${what}`, 'OpenAtCutoff');
      }
      await sleep(pause);
    }
  }

  /**
   * Fixes how many orders the export covers (for progress), once every order created before the cutoff is committed
   * (`awaitTransactionsOpenAt`); a retry keeps the first count.
   */
  async function prepareExport({ exportId }: { exportId: string }): Promise<{ total: number }> {
    const row = await load(exportId);
    if (row.orders_total !== null) return { total: row.orders_total };
    await awaitTransactionsOpenAt(exportId, row.cutoff);
    const where = coveredOrders(row);
    const counted = await db.raw<{ rows: { total: number }[] }>(
      `SELECT count(*)::int AS total FROM ${TABLES.orders} o WHERE ${where.sql}`,
      where.bindings,
    );
    const total = counted.rows[0]?.total ?? 0;
    await db(TABLES.exports).where({ id: exportId }).whereNull('orders_total').update({ orders_total: total });
    await publishProgress({ ...row, orders_total: total });
    return { total };
  }

  /** Writes page `page` (the orders after `after`), or returns it as already written. */
  async function writeExportPage({ exportId, page, after, pageSize }: ExportPageInput): Promise<ExportPageResult> {
    const earlier = await db(TABLES.exportPages).where({ export_id: exportId, page }).first<PageRow | undefined>();
    if (earlier !== undefined) return resultOf(earlier, pageSize);
    const row = await load(exportId);
    const where = coveredOrders(row);
    // The page's orders by keyset, then their lines; an order without reserved lines (REJECTED) is one row with
    // empty line fields, so every order of the export appears in it.
    const lines = await db.raw<{ rows: LineRow[] }>(
      `WITH page AS (
         SELECT o.id, o.created_at, o.customer_id, o.status, o.currency FROM ${TABLES.orders} o
          WHERE ${where.sql}
            AND (?::timestamptz IS NULL OR (o.created_at, o.id) > (?::timestamptz, ?::uuid))
          ORDER BY o.created_at, o.id
          LIMIT ?)
       SELECT page.id, to_char(page.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key,
              page.customer_id, page.status, page.currency, i.sku, i.quantity, i.unit_price_cents
         FROM page LEFT JOIN ${TABLES.orderItems} i ON i.order_id = page.id
        ORDER BY page.created_at, page.id, i.sku`,
      [...where.bindings, after?.createdAt ?? null, after?.createdAt ?? null, after?.orderId ?? null, pageSize],
    );
    const records = lines.rows.map((line) => [
      line.id,
      line.created_key,
      line.customer_id,
      line.status,
      line.sku,
      line.quantity,
      line.unit_price_cents,
      line.quantity === null || line.unit_price_cents === null ? null : line.quantity * line.unit_price_cents,
      line.currency,
    ]);
    const orders = new Set(lines.rows.map((line) => line.id)).size;
    const lastLine = lines.rows.at(-1);
    const last: ExportCursor | null =
      lastLine === undefined ? null : { createdAt: lastLine.created_key, orderId: lastLine.id };

    const directory = exportDirectory(exportsDir, exportId);
    await mkdir(directory, { recursive: true });
    const fileName = exportPageFile(page);
    const csv = toCsv(records);
    const temporary = path.join(directory, `${fileName}.${randomUUID()}.tmp`);
    await writeFile(temporary, csv);
    await rename(temporary, path.join(directory, fileName));

    const recorded = await db.transaction(async (trx) => {
      const inserted = await trx(TABLES.exportPages)
        .insert({
          export_id: exportId,
          page,
          orders,
          rows: records.length,
          bytes: Buffer.byteLength(csv),
          last_created_at: last?.createdAt ?? null,
          last_order_id: last?.orderId ?? null,
          file_name: fileName,
        })
        .onConflict(['export_id', 'page'])
        .ignore()
        .returning<PageRow[]>(['page', 'orders', 'rows', 'last_created_at', 'last_order_id']);
      // Totals are recomputed from the pages, so a page recorded twice could never count twice.
      const [updated] = await trx(TABLES.exports)
        .where({ id: exportId, status: 'running' })
        .update({
          orders_done: trx(TABLES.exportPages).where({ export_id: exportId }).sum('orders'),
          rows: trx(TABLES.exportPages).where({ export_id: exportId }).sum('rows'),
          pages: trx(TABLES.exportPages).where({ export_id: exportId }).count('*'),
          updated_at: trx.fn.now(),
        })
        .returning<ExportRow[]>('*');
      return { page: inserted[0], export: updated };
    });
    if (recorded.export !== undefined) await publishProgress(recorded.export);
    if (recorded.page === undefined) {
      // A duplicate of this call recorded the page first: its row is the answer (same keyset, same content).
      const stored = await db(TABLES.exportPages).where({ export_id: exportId, page }).first<PageRow>();
      return resultOf(stored, pageSize);
    }
    return resultOf(recorded.page, pageSize);
  }

  /** Records the export's end (the first end wins); a cancelled or failed export's pages are removed. */
  async function finishExport({
    exportId,
    status,
    error,
  }: FinishExportInput): Promise<{ rows: number; pages: number }> {
    const [updated] = await db(TABLES.exports)
      .where({ id: exportId, status: 'running' })
      .update({
        status,
        error: error?.slice(0, 1000) ?? null,
        completed_at: status === 'completed' ? db.fn.now() : null,
        updated_at: db.fn.now(),
      })
      .returning<ExportRow[]>('*');
    const row = updated ?? (await load(exportId));
    if (updated !== undefined) {
      if (status !== 'completed') await rm(exportDirectory(exportsDir, exportId), { recursive: true, force: true });
      logger.info('export finished', { exportId, status, rows: row.rows, pages: row.pages });
      await publishProgress(row);
    }
    return { rows: row.rows, pages: row.pages };
  }

  return { prepareExport, writeExportPage, finishExport };
}

/** The export activities, as the export workflow sees them. */
export type ExportActivities = ReturnType<typeof createExportActivities>;
