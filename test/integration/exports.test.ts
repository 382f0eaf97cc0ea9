/**
 * Order exports end to end: POST /exports starts an export workflow whose activities write CSV pages under
 * EXPORTS_DIR, GET /exports/:id reports progress (and `export.progress` reaches the admin channel), and the download
 * streams exactly the matching orders' lines, escaped. A cancel mid-way stops it; a worker SIGKILLed mid-export is
 * replaced and the export completes without a duplicate row. Real API, workers, PostgreSQL, Redis and Temporal.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { TABLES } from '../../lib/db';
import { EXPORT_PROGRESS_EVENT, redisKeys, type AdminMessage, type ExportProgressEvent } from '../../lib/events';
import { EXPORT_HEADER, exportDirectory, toCsv, type CsvCell } from '../../lib/export-files';
import { exportWorkflowIdFor, type ExportPageInput } from '../../workflows/export-definitions';
import { createApiHarness, undocumentedExchanges, workflowBundle, type ApiHarness } from '../support/api-helpers';
import { runOrderWorker, testActivities, writeBundleFile } from '../support/saga-helpers';
import { entryPointEnv, killEntryPoints, spawnEntryPoint, type EntryProcess } from '../support/processes';
import { insertProducts, uniqueSku } from '../support/services';
import { waitFor } from '../support/wait';

const PAGE_SIZE = 4;
const exportsDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-exports-'));

let h: ApiHarness;
let admin: string;
let stopWorker: (() => Promise<void>) | undefined;
/** A page the in-process worker holds until the test releases it. */
let gate: { page: number; exportId?: string; reached: () => void; released: Promise<void> } | undefined;

beforeAll(async () => {
  h = await createApiHarness({
    worker: false,
    env: { EXPORTS_DIR: exportsDir, EXPORT_PAGE_SIZE: String(PAGE_SIZE), EXPORT_PAGE_TIMEOUT: '2s' },
  });
  admin = h.token(`ops-${randomUUID().slice(0, 8)}`, { role: 'admin' });
  // The real activities, with writeExportPage able to wait at a gate (to cancel an export mid-way, deterministically).
  const activities = testActivities(h.config, h.db, h.redis);
  const writeExportPage = async (input: ExportPageInput) => {
    const held = gate;
    if (held !== undefined && held.page === input.page && held.exportId === input.exportId) {
      held.reached();
      await held.released;
    }
    return activities.writeExportPage(input);
  };
  const worker = await runOrderWorker({
    config: h.config,
    activities: { ...activities, writeExportPage },
    workflowBundle: await workflowBundle(),
    dataConverter: h.client.options.dataConverter,
  });
  stopWorker = () => worker.stop();
});

afterAll(async () => {
  killEntryPoints();
  await stopWorker?.();
  expect(undocumentedExchanges(h.exchanges)).toEqual([]);
  await h.close();
  rmSync(exportsDir, { recursive: true, force: true });
});

/**
 * An order's transaction that began before an export (created_at is its start) and is still open, as when a
 * placement waits for a product's row lock: it has inserted one order of `customerId`. The caller commits or rolls
 * it back.
 */
async function openOrderTransaction(customerId: string): Promise<{ open: Knex.Transaction; orderId: string }> {
  const orderId = randomUUID();
  const open = await h.db.transaction();
  try {
    await open(TABLES.orders).insert({
      id: orderId,
      customer_id: customerId,
      status: 'PENDING',
      total_cents: 0,
      request_hash: 'h',
      workflow_id: `order-${orderId}`,
    });
  } catch (error) {
    await open.rollback();
    throw error;
  }
  return { open, orderId };
}

interface SeedOptions {
  customerId: string;
  count: number;
  status?: (i: number) => string;
  /** Orders are created a minute apart, ending `endsAgoMinutes` before now. */
  endsAgoMinutes?: number;
  /** Orders whose index satisfies this have no lines (REJECTED before reservation). */
  lineless?: (i: number) => boolean;
}

/** Inserts `count` orders of `customerId` with one or two lines each; returns their ids, oldest first. */
async function seedOrders(options: SeedOptions): Promise<string[]> {
  const skus = [uniqueSku('exp-a'), uniqueSku('exp-b')];
  const ids = await insertProducts(h.db, [
    { sku: skus[0] ?? '', stock: 0, priceCents: 1250 },
    { sku: skus[1] ?? '', stock: 0, priceCents: 399 },
  ]);
  const orders = Array.from({ length: options.count }, (_, i) => ({
    id: randomUUID(),
    customer_id: options.customerId,
    status: options.status?.(i) ?? 'COMPLETED',
    total_cents: 0,
    request_hash: 'h',
    workflow_id: `order-${randomUUID()}`,
    created_at: h.db.raw(`now() - make_interval(mins => ?)`, [(options.endsAgoMinutes ?? 1) + options.count - i]),
  }));
  await h.db(TABLES.orders).insert(orders);
  const items = orders.flatMap((order, i) => {
    if (options.lineless?.(i)) return [];
    const first = {
      order_id: order.id,
      product_id: ids.get(skus[0] ?? ''),
      sku: skus[0],
      quantity: 1 + (i % 3),
      unit_price_cents: 1250,
    };
    const second = {
      order_id: order.id,
      product_id: ids.get(skus[1] ?? ''),
      sku: skus[1],
      quantity: 2,
      unit_price_cents: 399,
    };
    return i % 2 === 0 ? [first, second] : [first];
  });
  if (items.length > 0) await h.db(TABLES.orderItems).insert(items);
  return orders.map((order) => order.id);
}

/** The CSV an export of these orders must produce, built from the database independently of the export code. */
async function expectedCsv(orderIds: string[]): Promise<string> {
  const result = await h.db.raw<{ rows: Record<string, CsvCell>[] }>(
    `SELECT o.id, to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created,
            o.customer_id, o.status, i.sku, i.quantity, i.unit_price_cents,
            i.quantity * i.unit_price_cents AS line_total, o.currency
       FROM ${TABLES.orders} o LEFT JOIN ${TABLES.orderItems} i ON i.order_id = o.id
      WHERE o.id = ANY(?::uuid[])
      ORDER BY o.created_at, o.id, i.sku`,
    [orderIds],
  );
  return EXPORT_HEADER + toCsv(result.rows.map((row) => Object.values(row)));
}

interface ExportBody {
  exportId: string;
  status: string;
  rows: number;
  progress: number;
}

async function startExport(filters: Record<string, unknown>): Promise<string> {
  const res = await h.request('POST', '/exports', { token: admin, body: { format: 'csv', filters } });
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ exportId: expect.any(String), status: 'running' });
  return (res.body as { exportId: string }).exportId;
}

/** Waits (up to `timeoutMs`, default waitFor's) until the export's status is `status`; returns its body. */
async function waitForExport(exportId: string, status: string, timeoutMs?: number): Promise<ExportBody> {
  return waitFor(
    `export ${exportId} ${status}`,
    async () => {
      const res = await h.request('GET', `/exports/${exportId}`, { token: admin });
      const body = res.body as ExportBody;
      return body.status === status ? body : undefined;
    },
    timeoutMs,
  );
}

async function subscribeAdmin(): Promise<{ events: ExportProgressEvent[]; close: () => void }> {
  const subscriber: Redis = h.redis.duplicate();
  const events: ExportProgressEvent[] = [];
  await subscriber.subscribe(redisKeys(h.config.redisKeyPrefix).adminChannel);
  subscriber.on('message', (_channel: string, raw: string) => {
    const message = JSON.parse(raw) as AdminMessage;
    if (message.event === EXPORT_PROGRESS_EVENT) events.push(message.payload);
  });
  return { events, close: () => subscriber.disconnect() };
}

describe('order exports', () => {
  it('when an admin exports a customer whose id is a formula with commas, quotes and a newline, then the CSV holds every line once, escaped', async () => {
    const customerId = `=HYPERLINK("http://x.test","a,b")\n${randomUUID().slice(0, 6)}`;
    const orderIds = await seedOrders({
      customerId,
      count: 10,
      lineless: (i) => i === 3,
      status: (i) => (i === 3 ? 'REJECTED' : 'COMPLETED'),
    });
    const admins = await subscribeAdmin();
    try {
      const exportId = await startExport({ customerId });
      const done = await waitForExport(exportId, 'completed');
      // 10 orders: 5 with two lines, 4 with one, 1 without lines (one row with empty line fields).
      expect(done).toMatchObject({ rows: 15, progress: 1 });

      const download = await h.request('GET', `/exports/${exportId}/download`, { token: admin });
      expect(download.status).toBe(200);
      expect(download.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(download.headers.get('content-disposition')).toBe(`attachment; filename="orders-${exportId}.csv"`);
      expect(download.text).toBe(await expectedCsv(orderIds));
      expect(download.text).toContain(`"'=HYPERLINK(""http://x.test"",""a,b"")\n`);
      // 10 orders in pages of 4: pages of 4, 4 and 2 orders.
      expect(readdirSync(exportDirectory(exportsDir, exportId)).sort()).toEqual([
        'page-000001.csv',
        'page-000002.csv',
        'page-000003.csv',
      ]);

      await waitFor('the completed progress event', () =>
        admins.events.some((e) => e.exportId === exportId && e.status === 'completed') ? true : undefined,
      );
      const mine = admins.events.filter((e) => e.exportId === exportId);
      expect(mine.at(-1)).toMatchObject({ status: 'completed', rows: 15, progress: 1 });
      const progress = mine.map((e) => e.progress);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(mine.some((e) => e.status === 'running' && e.progress > 0 && e.progress < 1)).toBe(true);
    } finally {
      admins.close();
    }
  });

  it('when filters name a status and a time window, then only those orders are exported', async () => {
    const customerId = `filters-${randomUUID().slice(0, 8)}`;
    // Ten orders a minute apart, oldest 20 minutes ago; even ones COMPLETED, odd ones CANCELLED.
    const orderIds = await seedOrders({
      customerId,
      count: 10,
      endsAgoMinutes: 10,
      status: (i) => (i % 2 === 0 ? 'COMPLETED' : 'CANCELLED'),
    });
    const created = await h.db(TABLES.orders).whereIn('id', orderIds).orderBy('created_at').pluck<Date[]>('created_at');
    const from = created[2]?.toISOString();
    const to = created[8]?.toISOString();
    const exportId = await startExport({ customerId, status: 'COMPLETED', from, to });
    await waitForExport(exportId, 'completed');
    const download = await h.request('GET', `/exports/${exportId}/download`, { token: admin });
    // Orders 2..7 are in [from, to); of those the COMPLETED ones are 2, 4 and 6.
    expect(download.text).toBe(await expectedCsv([orderIds[2], orderIds[4], orderIds[6]].map(String)));
  });

  it('when from and to are the widest date-times PostgreSQL accepts, then the export completes with every order of the customer', async () => {
    const customerId = `widest-${randomUUID().slice(0, 8)}`;
    const orderIds = await seedOrders({ customerId, count: 2 });
    const exportId = await startExport({
      customerId,
      from: '0001-01-01T00:00:00+15:59',
      to: '9999-12-31T23:59:59-15:59',
    });
    await waitForExport(exportId, 'completed');
    const download = await h.request('GET', `/exports/${exportId}/download`, { token: admin });
    expect(download.text).toBe(await expectedCsv(orderIds));
  });

  it('when the download asks bom=true, then the CSV starts with a UTF-8 byte order mark and is otherwise the same', async () => {
    const customerId = `café-${randomUUID().slice(0, 8)}`;
    const orderIds = await seedOrders({ customerId, count: 2 });
    const exportId = await startExport({ customerId });
    await waitForExport(exportId, 'completed');
    // Raw bytes: a text decoder drops a leading byte order mark.
    const bytes = async (query: string) => {
      const response = await fetch(`${h.baseUrl}/exports/${exportId}/download${query}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    };
    const csv = Buffer.from(await expectedCsv(orderIds), 'utf8');

    expect(await bytes('?bom=true')).toEqual(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), csv]));
    expect(await bytes('?bom=false')).toEqual(csv);
    expect(await bytes('')).toEqual(csv);
    const refused = await h.request('GET', `/exports/${exportId}/download?bom=yes`, { token: admin });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'validation_failed', field: 'bom' });
  });

  it('when an order created before the cutoff commits after it, then the export waits for it and holds it', async () => {
    const customerId = `late-${randomUUID().slice(0, 8)}`;
    const { open, orderId } = await openOrderTransaction(customerId);
    let committed = false;
    try {
      const exportId = await startExport({ customerId });
      const handle = h.client.workflow.getHandle(exportWorkflowIdFor(exportId));
      // The first attempt outlasts its wait (a third of EXPORT_PAGE_TIMEOUT) and says why; Temporal retries it.
      await waitFor('prepareExport to give up an attempt on the open transaction', async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const waiting = pending.find((activity) => activity.activityType?.name === 'prepareExport');
        const why = waiting?.lastFailure?.message ?? '';
        return why.includes('1 transaction(s) open since before the cutoff') ? true : undefined;
      });
      expect(await h.db(TABLES.exports).where({ id: exportId }).first('status', 'orders_total')).toEqual({
        status: 'running',
        orders_total: null,
      });
      await open.commit();
      committed = true;

      const done = await waitForExport(exportId, 'completed');
      expect(done).toMatchObject({ rows: 1, progress: 1 });
      const download = await h.request('GET', `/exports/${exportId}/download`, { token: admin });
      expect(download.text).toBe(await expectedCsv([orderId]));
    } finally {
      if (!committed) await open.rollback();
    }
  });

  it('when an export waiting for a transaction open since before its cutoff is cancelled, then it ends cancelled, not failed', async () => {
    const customerId = `wait-cancel-${randomUUID().slice(0, 8)}`;
    const { open } = await openOrderTransaction(customerId);
    try {
      const exportId = await startExport({ customerId });
      const handle = h.client.workflow.getHandle(exportWorkflowIdFor(exportId));
      await waitFor('prepareExport to wait on the open transaction', async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        return pending.some((activity) => activity.activityType?.name === 'prepareExport') ? true : undefined;
      });
      // The attempt in flight gives up on the open transaction after the cancel (it never learns of it).
      await handle.cancel();
      await expect(handle.result()).resolves.toMatchObject({ exportId, status: 'cancelled' });
      expect(await waitForExport(exportId, 'cancelled')).toMatchObject({ status: 'cancelled' });
      expect(await h.db(TABLES.exports).where({ id: exportId }).first('status', 'error')).toEqual({
        status: 'cancelled',
        error: null,
      });
    } finally {
      await open.rollback();
    }
  });

  it('when an export is cancelled mid-way, then it stops after the page in flight, ends cancelled, and cannot be downloaded', async () => {
    const customerId = `cancel-${randomUUID().slice(0, 8)}`;
    await seedOrders({ customerId, count: 20 });
    let reached: () => void = () => undefined;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    gate = { page: 2, reached, released };
    const res = await h.request('POST', '/exports', { token: admin, body: { format: 'csv', filters: { customerId } } });
    const { exportId } = res.body as { exportId: string };
    gate.exportId = exportId;
    await atGate;

    const early = await h.request('GET', `/exports/${exportId}/download`, { token: admin });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ error: 'export_not_ready', exportId, status: 'running' });
    expect((await h.request('GET', `/exports/${exportId}`, { token: admin })).body).toMatchObject({
      status: 'running',
      rows: expect.any(Number),
      progress: 0.2,
    });

    const handle = h.client.workflow.getHandle(exportWorkflowIdFor(exportId));
    await handle.cancel();
    release();
    await expect(handle.result()).resolves.toMatchObject({ exportId, status: 'cancelled' });
    gate = undefined;

    const view = await waitForExport(exportId, 'cancelled');
    expect(view.progress).toBeLessThan(1);
    expect(await h.db(TABLES.exportPages).where({ export_id: exportId }).count<{ count: string }[]>()).toEqual([
      { count: '2' },
    ]);
    expect(existsSync(exportDirectory(exportsDir, exportId))).toBe(false);
    const late = await h.request('GET', `/exports/${exportId}/download`, { token: admin });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ error: 'export_not_ready', status: 'cancelled' });
  });

  it.each([
    ['another format', { format: 'xlsx' }, 'format'],
    ['no format', { filters: {} }, 'format'],
    ['an unknown status', { format: 'csv', filters: { status: 'SHIPPED' } }, 'filters.status'],
    ['a malformed from', { format: 'csv', filters: { from: 'yesterday' } }, 'filters.from'],
    [
      'from after to',
      { format: 'csv', filters: { from: '2026-11-30T00:00:00Z', to: '2026-11-01T00:00:00Z' } },
      'filters.to',
    ],
    ['a from in year 0000', { format: 'csv', filters: { from: '0000-01-01T00:00:00Z' } }, 'filters.from'],
    ['a to in year 0000', { format: 'csv', filters: { to: '0000-12-31T00:00:00Z' } }, 'filters.to'],
    ['a from on February 30', { format: 'csv', filters: { from: '2026-02-30T00:00:00Z' } }, 'filters.from'],
    ['a to in month 13', { format: 'csv', filters: { to: '2026-13-01T00:00:00Z' } }, 'filters.to'],
    ['a from offset beyond ±15:59', { format: 'csv', filters: { from: '2026-01-01T00:00:00+16:00' } }, 'filters.from'],
    ['an unknown filter', { format: 'csv', filters: { sku: 'X' } }, 'filters.sku'],
    ['a customer id with NUL', { format: 'csv', filters: { customerId: 'a\u0000' } }, 'filters.customerId'],
  ])(
    'when POST /exports carries %s, then 400 names the field and no export is recorded',
    async (_what, body, field) => {
      const before = await h.db(TABLES.exports).count();
      const res = await h.request('POST', '/exports', { token: admin, body });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'validation_failed', field });
      expect(await h.db(TABLES.exports).count()).toEqual(before);
    },
  );

  it('when a customer uses the export routes, then 403; when the export is unknown, then 404', async () => {
    const customer = h.token(`cust-${randomUUID().slice(0, 8)}`);
    const id = randomUUID();
    for (const res of [
      await h.request('POST', '/exports', { token: customer, body: { format: 'csv' } }),
      await h.request('GET', `/exports/${id}`, { token: customer }),
      await h.request('GET', `/exports/${id}/download`, { token: customer }),
    ]) {
      expect(res.status).toBe(403);
    }
    expect((await h.request('GET', `/exports/${id}`, { token: admin })).status).toBe(404);
    expect((await h.request('GET', `/exports/${id}/download`, { token: admin })).status).toBe(404);
    expect((await h.request('GET', '/exports/not-an-id', { token: admin })).status).toBe(404);
  });

  it('when the worker is SIGKILLed mid-export, then a new worker resumes it and the CSV has every line exactly once', async () => {
    await stopWorker?.(); // from here on, only worker processes poll this queue
    stopWorker = undefined;
    const bundleFile = writeBundleFile(await workflowBundle());
    const spawnWorker = async (): Promise<EntryProcess> => {
      const worker = spawnEntryPoint(
        'worker',
        'worker/main.ts',
        entryPointEnv(h.config, {
          METRICS_PORT: '0',
          WORKER_MAX_CACHED_WORKFLOWS: '0',
          WORKFLOW_BUNDLE_PATH: bundleFile.path,
          EXPORTS_DIR: exportsDir,
        }),
      );
      await worker.waitForLog('worker polling');
      return worker;
    };
    try {
      const customerId = `crash-${randomUUID().slice(0, 8)}`;
      const orderIds = await seedOrders({ customerId, count: 160 });
      const first = await spawnWorker();
      const exportId = await startExport({ customerId });
      const pagesAtKill = await waitFor('three pages written', async () => {
        const [row] = await h.db(TABLES.exportPages).where({ export_id: exportId }).count<{ count: string }[]>();
        return Number(row?.count) >= 3 ? Number(row?.count) : undefined;
      });
      first.child.kill('SIGKILL');
      await first.exited;
      expect(pagesAtKill).toBeLessThan(160 / PAGE_SIZE);
      expect((await h.request('GET', `/exports/${exportId}`, { token: admin })).body).toMatchObject({
        status: 'running',
      });

      await spawnWorker();
      // The killed worker's page times out first (EXPORT_PAGE_TIMEOUT, 2 s), and on a loaded machine a page can time
      // out again before it is written: room for a few retries.
      const done = await waitForExport(exportId, 'completed', 60_000);
      const download = await h.request('GET', `/exports/${exportId}/download`, { token: admin });
      expect(download.text).toBe(await expectedCsv(orderIds));
      expect(done.rows).toBe(240); // 80 orders with two lines, 80 with one
      const pages = await h
        .db(TABLES.exportPages)
        .where({ export_id: exportId })
        .orderBy('page')
        .pluck<number[]>('page');
      expect(pages).toEqual(Array.from({ length: 41 }, (_, i) => i + 1)); // 40 full pages, then an empty one
    } finally {
      killEntryPoints();
      bundleFile.remove();
    }
  });
});
