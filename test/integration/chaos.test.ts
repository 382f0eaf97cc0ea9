/**
 * The chaos run in CI: `npm run chaos -- --quick` as a child process on the test PostgreSQL server (it creates and
 * drops a database of its own and starts its own Temporal dev server, Redis, workers, API and relay), which must
 * finish with exit 0 and no violation. And the checker itself: a consistent little world passes every check, and each
 * planted fault (a double charge, a stuck order, an unrefunded cancel, a mismatched repeat, an unplanned 500, a missed
 * event, a leaked token, a crash) is reported by its check, so a chaos run cannot pass by checking nothing.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { runChecks, scanLogs, type CheckInput, type CheckName } from '../../chaos/checks';
import type { FaultRecord } from '../../chaos/faults';
import type { PlacedOrder } from '../../chaos/load';
import type { RunSummary } from '../../chaos/report';
import type { SocketView } from '../../chaos/sockets';
import { TABLES } from '../../lib/db';
import { recordMovements } from '../../lib/ledger';
import { withDatabase } from '../../stack';
import { paymentIdempotencyKey, type OrderStatus } from '../../workflows/definitions';
import { insertOrder } from '../support/saga-helpers';
import { privateDatabase, temporalCliPath, type PrivateDatabase } from '../support/services';

const ROOT = path.resolve(__dirname, '..', '..');
/** The quick run takes about 75 s on 2 busy cores; past this it is stuck. */
const QUICK_RUN_TIMEOUT_MS = 170_000;

function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (url === undefined) throw new Error('TEST_DATABASE_URL is not set: run the suites through jest (globalSetup)');
  return withDatabase(url, 'postgres');
}

describe('npm run chaos -- --quick', () => {
  let runDir: string;

  beforeAll(() => {
    runDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-chaos-test-'));
  });

  afterAll(() => {
    rmSync(runDir, { recursive: true, force: true });
  });

  test(
    'when the quick chaos run is carried out, then it exits 0 with every fault injected and no violation',
    async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/main.ts', '--quick', '--run-dir', runDir], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: testServerUrl(),
          TEMPORAL_CLI_PATH: temporalCliPath(),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGINT'), QUICK_RUN_TIMEOUT_MS);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
      clearTimeout(timer);
      if (code !== 0) throw new Error(`chaos exited ${code}:\n${output.split('\n').slice(-80).join('\n')}`);

      const summary = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary;
      expect(summary.violations).toBe(0);
      expect(summary.quiescent).toBe(true);
      expect(summary.checks.map((check) => [check.name, check.violations])).toEqual(
        summary.checks.map((check) => [check.name, []]),
      );
      // Every fault of the quick schedule was injected, none failed.
      const injected = Object.entries(
        summary.faults.reduce<Record<string, number>>((out, f) => ({ ...out, [f.kind]: (out[f.kind] ?? 0) + 1 }), {}),
      );
      expect(Object.fromEntries(injected)).toEqual({
        worker_kill: 2,
        relay_restart: 1,
        redis_restart: 1,
        temporal_restart: 1,
        postgres_terminate: 2,
        gateway_outage: 1,
      });
      expect(summary.faults.filter((f) => f.error !== undefined)).toEqual([]);
      // The load was real: orders of every token kind reached the database and most of them completed.
      expect(Object.keys(summary.byToken).sort()).toEqual(
        ['random', 'tok_decline', 'tok_flaky', 'tok_ok', 'tok_slow', 'tok_unavailable'].sort(),
      );
      expect(summary.finalStatuses.COMPLETED ?? 0).toBeGreaterThan(10);
      expect(summary.realtime.received).toBeGreaterThan(100);
    },
    QUICK_RUN_TIMEOUT_MS + 10_000,
  );
});

describe('chaos checks', () => {
  let own: PrivateDatabase;
  let db: Knex;
  let logDir: string;
  const orderId = randomUUID();
  const customerId = 'customer-1';
  const sku = 'PLANT-MUG';
  const history: OrderStatus[] = ['PENDING', 'RESERVED', 'CHARGING', 'PAID', 'COMPLETED'];
  const faultWindow: FaultRecord = {
    kind: 'temporal_restart',
    detail: 'planted',
    start: Date.parse('2026-01-01T10:00:00Z'),
    end: Date.parse('2026-01-01T10:00:05Z'),
  };

  beforeAll(async () => {
    own = await privateDatabase('chaos_check');
    db = own.db;
    // One COMPLETED order, exactly as the saga leaves it.
    const [product] = await db(TABLES.products)
      .insert({ sku, name: 'Planted mug', price_cents: 1000, stock: 9 })
      .returning<{ id: number }[]>('id');
    const planted = {
      status: 'COMPLETED',
      status_seq: history.length,
      total_cents: 1000,
      request_hash: 'planted',
      idempotency_key: 'key-1',
    };
    await insertOrder(db, { customer_id: customerId, ...planted }, orderId);
    await db(TABLES.orderItems).insert({
      order_id: orderId,
      product_id: product?.id,
      sku,
      quantity: 1,
      unit_price_cents: 1000,
    });
    await db(TABLES.stockReservations).insert({
      order_id: orderId,
      product_id: product?.id,
      quantity: 1,
      status: 'committed',
    });
    await db(TABLES.payments).insert({
      idempotency_key: paymentIdempotencyKey(orderId),
      order_id: orderId,
      amount_cents: 1000,
      status: 'approved',
      card_fingerprint: 'planted',
    });
    await db(TABLES.orderEvents).insert(history.map((status, i) => ({ order_id: orderId, seq: i + 1, status })));
    // Its stock's story in the ledger: 10 on the shelf, 1 reserved, then committed.
    await recordMovements(db, [
      { productId: product?.id ?? 0, kind: 'initial', quantity: 10, reason: 'planted' },
      { productId: product?.id ?? 0, kind: 'reserve', quantity: -1, orderId },
      { productId: product?.id ?? 0, kind: 'commit', quantity: 0, orderId },
    ]);
    logDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-chaos-logs-'));
    writeFileSync(
      path.join(logDir, 'worker-1.1.log'),
      '{"level":"info","msg":"charge decided","paymentToken":"[redacted]"}\n',
    );
  });

  afterAll(async () => {
    await own?.drop();
    rmSync(logDir, { recursive: true, force: true });
  });

  /** What the harness would have recorded for that order: accepted, repeated once, followed to the end. */
  function input(trx: Knex): CheckInput {
    const placed: PlacedOrder = {
      index: 0,
      customerId,
      tokenKind: 'tok_ok',
      token: 'tok_ok',
      idempotencyKey: 'key-1',
      body: { items: [{ sku, quantity: 1 }], payment: { token: 'tok_ok' } },
      outcome: 'accepted',
      status: 201,
      orderId,
      attempts: 1,
    };
    const view: SocketView = {
      customerId,
      orders: new Map([[orderId, new Map(history.map((status, i) => [i + 1, status]))]]),
      received: 5,
      duplicates: 0,
      connects: 1,
      disconnects: 0,
      catchUpFailures: [],
    };
    return {
      db: trx,
      initialStock: new Map([[sku, 10]]),
      orders: [placed],
      repeats: [
        {
          idempotencyKey: 'key-1',
          kind: 'same_body',
          expectedOrderId: orderId,
          status: 201,
          orderId,
          error: undefined,
        },
      ],
      serverErrors: [
        // A 503 with Retry-After while Temporal restarts: planned.
        {
          method: 'POST',
          path: '/orders',
          status: 503,
          sentAt: faultWindow.start + 1000,
          at: faultWindow.start + 16_000,
          retryAfter: '5',
          error: 'service_unavailable',
        },
      ],
      unexpected: [],
      requests: 3,
      faults: [faultWindow],
      views: new Map([[customerId, view]]),
      openWorkflows: 0,
      orderWorkflows: 1,
      crashes: [],
    };
  }

  const secrets = [
    { label: 'payment token tok_ok', value: 'tok_ok' },
    { label: 'JWT_SECRET', value: 'planted-jwt-secret-value' },
  ];

  /** An order row planted for one check, with no workflow behind it. */
  const plantOrder = (trx: Knex, id: string, status: OrderStatus, totalCents: number) =>
    insertOrder(trx, { customer_id: customerId, status, total_cents: totalCents, request_hash: 'planted' }, id);

  /** Runs every check inside a transaction that is rolled back, so each plant starts from the consistent world. */
  async function checksWith(
    plant: (trx: Knex, checkInput: CheckInput) => Promise<CheckInput> | CheckInput,
  ): Promise<Partial<Record<CheckName, string[]>>> {
    const trx = await db.transaction();
    try {
      const results = await runChecks(await plant(trx, input(trx)));
      results.push(scanLogs(logDir, secrets));
      return Object.fromEntries(
        results.filter((result) => result.violations.length > 0).map((result) => [result.name, result.violations]),
      );
    } finally {
      await trx.rollback();
    }
  }

  test('when nothing is wrong, then no check reports anything', async () => {
    expect(await checksWith((_, checkInput) => checkInput)).toEqual({});
  });

  test('when an order was charged twice, then the ledger check and the invariants report it', async () => {
    const found = await checksWith(async (trx, checkInput) => {
      await trx(TABLES.payments).insert({
        idempotency_key: `${paymentIdempotencyKey(orderId)}-again`,
        order_id: orderId,
        amount_cents: 1000,
        status: 'approved',
        card_fingerprint: 'planted',
      });
      return checkInput;
    });
    expect(Object.keys(found).sort()).toEqual(['invariants', 'payments_ledger']);
    expect(found.payments_ledger).toContain(`order ${orderId} was charged 2 times`);
  });

  test('when an order is stuck in CHARGING, then the terminal check reports it', async () => {
    const stuck = randomUUID();
    const found = await checksWith(async (trx, checkInput) => {
      await plantOrder(trx, stuck, 'CHARGING', 0);
      return { ...checkInput, openWorkflows: 1, orderWorkflows: 2 };
    });
    expect(Object.keys(found)).toEqual(['orders_terminal']);
    expect(found.orders_terminal?.[0]).toMatch(new RegExp(`order ${stuck} is still CHARGING`));
  });

  test('when a cancelled order kept its payment, then the invariants report it', async () => {
    const cancelled = randomUUID();
    const found = await checksWith(async (trx, checkInput) => {
      await plantOrder(trx, cancelled, 'CANCELLED', 500);
      await trx(TABLES.payments).insert({
        idempotency_key: paymentIdempotencyKey(cancelled),
        order_id: cancelled,
        amount_cents: 500,
        status: 'approved',
        card_fingerprint: 'planted',
      });
      return { ...checkInput, orderWorkflows: 2 };
    });
    expect(Object.keys(found)).toEqual(['invariants']);
    expect(found.invariants).toEqual([expect.stringMatching(new RegExp(`^compensated ${cancelled}`))]);
  });

  test('when a cancelled order was PAID and nothing was refunded, then the refund check reports it', async () => {
    const cancelled = randomUUID();
    const found = await checksWith(async (trx, checkInput) => {
      await plantOrder(trx, cancelled, 'CANCELLED', 500);
      await trx(TABLES.orders).where({ id: cancelled }).update({ status_seq: 2 });
      await trx(TABLES.orderEvents).insert([
        { order_id: cancelled, seq: 1, status: 'PAID', detail: {} },
        { order_id: cancelled, seq: 2, status: 'CANCELLED', detail: {} },
      ]);
      return { ...checkInput, orderWorkflows: 2 };
    });
    expect(found).toEqual({ refunds: [`CANCELLED order ${cancelled} was PAID but has no refunded payment`] });
  });

  test('when a repeated key gave another order, then the idempotency check reports it', async () => {
    const found = await checksWith((_, checkInput) => ({
      ...checkInput,
      repeats: [{ ...checkInput.repeats[0]!, orderId: randomUUID() }],
    }));
    expect(Object.keys(found)).toEqual(['idempotency']);
  });

  test('when a 500 came outside every outage, then the 5xx check reports it', async () => {
    const found = await checksWith((_, checkInput) => ({
      ...checkInput,
      serverErrors: [
        ...checkInput.serverErrors,
        {
          method: 'GET',
          path: `/orders/${orderId}`,
          status: 500,
          sentAt: faultWindow.end + 60_000,
          at: faultWindow.end + 60_010,
          retryAfter: undefined,
          error: 'internal_error',
        },
      ],
    }));
    expect(Object.keys(found)).toEqual(['http_5xx']);
    expect(found.http_5xx?.[0]).toMatch(/-> 500 internal_error .*outside every planned outage/);
  });

  test('when a read answered 503 while only Temporal was down, then the 5xx check reports it', async () => {
    const found = await checksWith((_, checkInput) => ({
      ...checkInput,
      serverErrors: [
        {
          method: 'GET',
          path: `/orders/${orderId}`,
          status: 503,
          sentAt: faultWindow.start + 1000,
          at: faultWindow.start + 1010,
          retryAfter: '5',
          error: 'service_unavailable',
        },
      ],
    }));
    expect(Object.keys(found)).toEqual(['http_5xx']);
    expect(found.http_5xx?.[0]).toMatch(/GET \/orders\/\S+ -> 503 .*outside every planned outage that can fail it/);
  });

  test('when a client never saw the terminal status, then the realtime check reports it', async () => {
    const found = await checksWith((_, checkInput) => {
      const seen = new Map(history.slice(0, 4).map((status, i) => [i + 1, status]));
      const view = { ...checkInput.views.get(customerId)!, orders: new Map([[orderId, seen]]) };
      return { ...checkInput, views: new Map([[customerId, view]]) };
    });
    expect(found).toEqual({ realtime: [`${customerId} never saw order ${orderId} reach COMPLETED (seq 5)`] });
  });

  test('when a process crashed, then the process check reports it', async () => {
    const found = await checksWith((_, checkInput) => ({
      ...checkInput,
      crashes: [{ name: 'relay', how: 'exit 1', at: Date.now(), tail: 'boom' }],
    }));
    expect(Object.keys(found)).toEqual(['processes']);
  });

  test('when a payment token reaches a log, then the scan names the secret and the file, not the value', async () => {
    const leaked = path.join(logDir, 'api.2.log');
    writeFileSync(leaked, '{"level":"info","msg":"ok"}\n{"level":"error","msg":"charging tok_ok failed"}\n');
    try {
      const found = await checksWith((_, checkInput) => checkInput);
      expect(found).toEqual({ secrets_in_logs: ['payment token tok_ok found in api.2.log line 2'] });
    } finally {
      rmSync(leaked);
    }
  });
});
