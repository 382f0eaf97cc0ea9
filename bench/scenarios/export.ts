/**
 * A 100,000-order CSV export through the real stack: orders seeded straight into the database, POST /exports run on
 * the stack's worker, the CSV downloaded from its API. Measures rows/s and the peak RSS (`VmHWM`, reset per phase) of
 * the worker while exporting and of the API while streaming, so "without loading them into memory" is a number.
 * Goal: the worker's peak stays below 100 MiB above its RSS before the export.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { signToken } from '../../lib/auth';
import { loadConfigOrExit } from '../../lib/config';
import { TABLES } from '../../lib/db';
import { exportDirectory } from '../../lib/export-files';
import { insertProductsWithLedger } from '../../lib/ledger';
import type { BenchOptions, ScenarioResult } from '../contract';
import { removeBenchRows } from '../support/catalog';
import { callApi } from '../support/http';
import { sleep } from '../../lib/sleep';
import { machineFigures, round } from '../support/stats';

/** Most the worker's peak RSS may grow over its RSS before the export. */
const GOAL_GROWTH_MB = 100;
const SEED_BATCH = 10_000;

/** Current resident set (`VmRSS`) of a process in MiB. */
async function rssMb(pid: number): Promise<number | undefined> {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
  return match?.[1] === undefined ? undefined : round(Number(match[1]) / 1024);
}

/** Runs the scenario; `--quick` exports 10,000 orders. */
export async function run({ quick, log, stack }: BenchOptions): Promise<ScenarioResult> {
  const config = loadConfigOrExit();
  const orders = quick ? 10_000 : 100_000;
  const runId = randomUUID().slice(0, 8);
  const customerPrefix = `bench-export-${runId}-`;
  const customerId = `${customerPrefix}c`;
  const skus = [`BENCH-EXP-A-${runId.toUpperCase()}`, `BENCH-EXP-B-${runId.toUpperCase()}`];
  const { db } = stack;
  const app = await stack.app();
  const token = signToken('bench-export', config.jwtSecret, { role: 'admin' });
  const call = (method: string, path: string, body?: unknown) => callApi(app.apiUrl, method, path, { token, body });
  let exportId: string | undefined;
  try {
    const [skuA = '', skuB = ''] = skus;
    const ids = await insertProductsWithLedger(db, [
      { sku: skuA, name: 'bench export A', priceCents: 1250 },
      { sku: skuB, name: 'bench export B', priceCents: 399 },
    ]);
    const [productA = 0, productB = 0] = [ids.get(skuA), ids.get(skuB)];
    log(`export: seeding ${orders} orders`);
    for (let from = 1; from <= orders; from += SEED_BATCH) {
      const to = Math.min(orders, from + SEED_BATCH - 1);
      await db.raw(
        `WITH o AS (
           INSERT INTO ${TABLES.orders} (id, customer_id, status, total_cents, request_hash, workflow_id, created_at)
           SELECT gen_random_uuid(), ?::text, 'COMPLETED', 0, 'bench', ?::text || g, now() - make_interval(secs => ?::int - g)
             FROM generate_series(?::int, ?::int) g
           RETURNING id, workflow_id)
         INSERT INTO ${TABLES.orderItems} (order_id, product_id, sku, quantity, unit_price_cents)
         SELECT o.id, ?::int, ?::text, 1 + (hashtext(o.id::text) & 3), 1250 FROM o
         UNION ALL
         SELECT o.id, ?::int, ?::text, 2, 399 FROM o WHERE hashtext(o.id::text) & 1 = 0`,
        [customerId, `bench-export-${runId}-`, orders + 1, from, to, productA, skuA, productB, skuB],
      );
    }
    const [{ lines }] = (
      await db.raw<{ rows: [{ lines: number }] }>(
        `SELECT count(*)::int AS lines FROM ${TABLES.orderItems} i JOIN ${TABLES.orders} o ON o.id = i.order_id
          WHERE o.customer_id = ?`,
        [customerId],
      )
    ).rows;

    const workerBefore = await rssMb(app.worker.pid);
    app.worker.resetPeakRss();
    const started = performance.now();
    const created = await call('POST', '/exports', { format: 'csv', filters: { customerId } });
    if (created.status !== 202)
      throw new Error(`POST /exports answered ${created.status}: ${JSON.stringify(created.body)}`);
    exportId = String(created.body.exportId);
    let view: { status: string; rows: number; progress: number } = { status: 'running', rows: 0, progress: 0 };
    let lastLogged = 0;
    while (view.status === 'running') {
      await sleep(250);
      view = (await call('GET', `/exports/${exportId}`)).body as typeof view;
      if (view.progress - lastLogged >= 0.25) {
        lastLogged = view.progress;
        log(`export: ${Math.round(view.progress * 100)}% (${view.rows} rows)`);
      }
    }
    const exportSeconds = (performance.now() - started) / 1000;
    const workerPeak = app.worker.peakRssMb();
    if (view.status !== 'completed') throw new Error(`the export ended ${view.status}`);
    if (view.rows !== lines) throw new Error(`the export wrote ${view.rows} rows, expected ${lines}`);

    const apiBefore = await rssMb(app.api.pid);
    app.api.resetPeakRss();
    const downloadStarted = performance.now();
    const download = await fetch(`${app.apiUrl}/exports/${exportId}/download`, {
      headers: { authorization: `Bearer ${token}` },
    });
    let bytes = 0;
    let newlines = 0;
    for await (const chunk of download.body ?? []) {
      const buffer = Buffer.from(chunk as Uint8Array);
      bytes += buffer.length;
      for (const byte of buffer) if (byte === 10) newlines += 1;
    }
    const downloadSeconds = (performance.now() - downloadStarted) / 1000;
    const apiPeak = app.api.peakRssMb();
    // Header + one line per row; no cell of this data holds a newline.
    if (newlines !== lines + 1) throw new Error(`the download has ${newlines} lines, expected ${lines + 1}`);

    const growth =
      workerPeak !== undefined && workerBefore !== undefined ? round(workerPeak - workerBefore) : undefined;
    return {
      scenario: 'export',
      figures: {
        orders,
        'rows (order lines)': lines,
        'export s': round(exportSeconds),
        'export rows/s': Math.round(lines / exportSeconds),
        'export orders/s': Math.round(orders / exportSeconds),
        'worker RSS before MiB': workerBefore ?? 'n/a',
        'worker peak RSS during export MiB': workerPeak ?? 'n/a',
        'download MiB': round(bytes / 1024 / 1024),
        'download s': round(downloadSeconds),
        'API RSS before MiB': apiBefore ?? 'n/a',
        'API peak RSS during download MiB': apiPeak ?? 'n/a',
        'page size (orders)': config.exportPageSize,
        ...machineFigures(),
      },
      goal: `worker peak RSS - RSS before <= ${GOAL_GROWTH_MB} MiB`,
      goalMet: growth !== undefined && growth <= GOAL_GROWTH_MB,
    };
  } finally {
    if (exportId !== undefined) {
      await db(TABLES.exports).where({ id: exportId }).delete();
      await rm(exportDirectory(config.exportsDir, exportId), { recursive: true, force: true });
    }
    await removeBenchRows(db, { customerPrefix, skus });
  }
}
