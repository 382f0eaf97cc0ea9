/** What the saga suites share: the real activities and worker on the real services, orders, their rows, the CLIs. */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, Runtime, type NativeConnection, type Worker, type WorkflowBundle } from '@temporalio/worker';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import {
  createActivities,
  createSimulatedGateway,
  gatewaySettingsFromConfig,
  type Activities,
  type ActivityDeps,
  type SimulatedGatewayDeps,
} from '../../activities';
import { createDataConverter } from '../../lib/codec';
import type { Config } from '../../lib/config';
import { requestHashOf } from '../../lib/order-lines';
import { SNAPSHOT, TABLES } from '../../lib/db';
import { redisKeys } from '../../lib/events';
import { createLogger } from '../../lib/logger';
import { createRedis } from '../../lib/redis';
import type { EventRow, OrderRow, PaymentRow } from '../../lib/rows';
import { connectClient, connectWorker } from '../../lib/temporal';
import { bundleOrderWorkflows, createOrderWorker, type OrderWorkerOptions } from '../../worker/create-worker';
import {
  statusQuery,
  WORKFLOW_TYPE,
  workflowIdFor,
  type OrderLine,
  type OrderStatus,
  type OrderStatusView,
  type OrderWorkflowInput,
  type SagaSettings,
} from '../../workflows/definitions';
import type { orderWorkflow } from '../../workflows/order';
import { temporalCliPath, testConfig, testDb, testRedis } from './services';
import { waitFor } from './wait';

const run = promisify(execFile);

/** Where recorded histories live; `test/integration/replay.test.ts` replays every file here. */
export const HISTORIES_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');

let quietRuntimeInstalled = false;

/** Installs a Temporal runtime that logs errors only (expected retries stay out of test output); once per process. */
export function installQuietRuntime(): void {
  if (quietRuntimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  quietRuntimeInstalled = true;
}

/** A held activity call: the order waits in its current status until `release()`. */
export interface Hold {
  /** Resolves once the held activity was called for the order. */
  reached: Promise<void>;
  release(): void;
}

/** Everything a saga suite talks to; `close()` in afterAll. */
export interface SagaHarness {
  config: Config;
  db: Knex;
  redis: Redis;
  client: Client;
  connection: NativeConnection;
  bundle: WorkflowBundle;
  /** The payload codec of the client and worker, as in worker/main.ts and api/main.ts. */
  dataConverter: DataConverter;
  /** The worker on the suite's task queue, if started. */
  worker: Worker | undefined;
  /** Makes the next call of `activity` for `orderId` (matching `when`) wait until released. */
  hold(orderId: string, activity: keyof Activities, when?: (arg: unknown) => boolean): Hold;
  /** True once the activities logged `message` (info and above) about `orderId`. */
  logged(orderId: string, message: string): boolean;
  close(): Promise<void>;
}

interface PendingHold extends Hold {
  orderId: string;
  activity: keyof Activities;
  when: (arg: unknown) => boolean;
  released: Promise<void>;
  reach(): void;
}

/** The order id an activity call is about (every activity takes it, as `orderId` or as its only argument). */
function orderIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'object' && arg !== null && 'orderId' in arg) return String(arg.orderId);
  return undefined;
}

/** Wraps every activity so a test can hold one call of one order (to cancel it in PENDING or RESERVED). */
function holdable(activities: Activities, holds: PendingHold[]): Activities {
  const wrapped: Record<string, (arg: unknown) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities) as [keyof Activities, (arg: unknown) => Promise<unknown>][]) {
    wrapped[name] = async (arg: unknown) => {
      const index = holds.findIndex((h) => h.activity === name && h.orderId === orderIdOf(arg) && h.when(arg));
      const hold = index >= 0 ? holds.splice(index, 1)[0] : undefined;
      if (hold !== undefined) {
        hold.reach();
        await hold.released;
      }
      return fn(arg);
    };
  }
  return wrapped as unknown as Activities;
}

/** The real activities on the test services, built as worker/main.ts does; `options` override the dependencies. */
export function testActivities(
  config: Config,
  db: Knex,
  redis: Redis,
  options: Partial<Omit<ActivityDeps, 'gateway'>> & { gateway?: Partial<SimulatedGatewayDeps> } = {},
): Activities {
  const { gateway, ...deps } = options;
  return createActivities({
    db,
    redis,
    redisKeyPrefix: config.redisKeyPrefix,
    gateway: createSimulatedGateway({ db, ...gatewaySettingsFromConfig(config), ...gateway }),
    exportsDir: config.exportsDir,
    ...deps,
  });
}

/** `{ config, db, redis, activities }` for a block that calls activities without a worker; closed in afterAll. */
export function directActivities(gateway: Partial<SimulatedGatewayDeps> = {}) {
  const config = testConfig();
  const db = testDb(config);
  const redis = createRedis(config.redisUrl, { lazyConnect: true });
  afterAll(async () => {
    await redis.del(redisKeys(config.redisKeyPrefix).eventsStream);
    await redis.quit();
    await db.destroy();
  });
  return { config, db, redis, activities: testActivities(config, db, redis, { gateway }) };
}

/** A worker running in-process; `stop()` drains it. */
export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** Runs the order worker in-process, as worker/main.ts builds it; a connection it opened is closed by `stop()`. */
export async function runOrderWorker(
  options: Omit<OrderWorkerOptions, 'connection'> & { connection?: NativeConnection },
): Promise<RunningWorker> {
  installQuietRuntime();
  const connection = options.connection ?? (await connectWorker(options.config.temporal));
  const worker = await createOrderWorker({ ...options, connection });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      if (options.connection === undefined) await connection.close();
    },
  };
}

/** Connects to the real services, bundles the workflow once and (unless told not to) runs a worker in-process. */
export async function createSagaHarness(
  options: { env?: Record<string, string>; worker?: boolean } = {},
): Promise<SagaHarness> {
  installQuietRuntime();
  const config = testConfig(options.env);
  const db = testDb(config);
  const redis = testRedis(config);
  const holds: PendingHold[] = [];
  const dataConverter = createDataConverter(config);
  const [bundle, client, connection] = await Promise.all([
    bundleOrderWorkflows(createLogger('bundle', 'error')),
    connectClient(config.temporal, dataConverter),
    connectWorker(config.temporal),
  ]);
  const logs: { orderId?: unknown; msg?: unknown }[] = [];
  const logger = createLogger('activities', 'info', {}, (line) => void logs.push(JSON.parse(line)));
  // A charge waits long for a pending workflow task (a third of its timeout at most): a test that holds that task
  // on purpose decides how long, not a stall of a loaded machine.
  const deps = { temporal: client, logger, workflowTaskWaitMs: 20_000 };
  const activities = holdable(testActivities(config, db, redis, deps), holds);
  const worker =
    options.worker === false
      ? undefined
      : await runOrderWorker({ connection, config, activities, workflowBundle: bundle, dataConverter });
  return {
    config,
    db,
    redis,
    client,
    connection,
    bundle,
    dataConverter,
    worker: worker?.worker,
    hold(orderId, activity, when = () => true) {
      let release!: () => void;
      let reach!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const reached = new Promise<void>((resolve) => (reach = resolve));
      const hold: PendingHold = { orderId, activity, when, released, reached, release, reach };
      holds.push(hold);
      return hold;
    },
    logged: (orderId, message) => logs.some((entry) => entry.orderId === orderId && entry.msg === message),
    async close() {
      for (const hold of holds.splice(0)) hold.release();
      await worker?.stop();
      await connection.close();
      await client.connection.close();
      await Promise.allSettled([db.destroy(), redis.quit()]);
    },
  };
}

/** The harness as chaos/reset-sweep.ts takes it: `hold` accepts any activity name. */
export function sweepWorld(h: SagaHarness): SagaHarness & { hold(orderId: string, activity: string): Hold } {
  return { ...h, hold: (orderId, activity) => h.hold(orderId, activity as keyof Activities) };
}

/** A workflow bundle written to a temporary file, for entry points started with WORKFLOW_BUNDLE_PATH. */
export interface BundleFile {
  path: string;
  /** Deletes the file and its directory. */
  remove(): void;
}

/** Writes `bundle` to a file of its own: worker processes load it instead of bundling for seconds each. */
export function writeBundleFile(bundle: WorkflowBundle): BundleFile {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-bundle-'));
  const file = path.join(dir, 'workflow-bundle.js');
  writeFileSync(file, bundle.code);
  return { path: file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Columns of an order row that `insertOrders` lets a suite choose. */
export interface OrderRowFields {
  customer_id?: string;
  status?: string;
  /** The seq of the event `status` comes from (a suite that plants events sets it to the newest). @default 1 */
  status_seq?: number;
  total_cents?: number;
  request_hash?: string;
  idempotency_key?: string;
}

/** Order rows without a workflow (PENDING, total 0 unless `fields` say otherwise) for `ids` or that many new ids. */
export async function insertOrders(db: Knex, ids: string[] | number, fields: OrderRowFields = {}): Promise<string[]> {
  const orderIds = typeof ids === 'number' ? Array.from({ length: ids }, () => randomUUID()) : ids;
  const row = { customer_id: 'test-customer', status: 'PENDING', total_cents: 0, request_hash: 'h', ...fields };
  await db(TABLES.orders).insert(orderIds.map((id) => ({ id, workflow_id: workflowIdFor(id), ...row })));
  return orderIds;
}

/** One order row as `insertOrders` writes it; its id. */
export async function insertOrder(db: Knex, fields: OrderRowFields = {}, id: string = randomUUID()): Promise<string> {
  await insertOrders(db, [id], fields);
  return id;
}

/** A fresh order input, its saga settings from the config (as the API builds them) with `settings` over them. */
export function orderInput(
  config: Config,
  lines: OrderLine[],
  paymentToken: string,
  settings: Partial<SagaSettings> = {},
): OrderWorkflowInput {
  const orderId = randomUUID();
  return {
    orderId,
    customerId: `customer-${orderId.slice(0, 8)}`,
    lines,
    paymentToken,
    requestHash: requestHashOf({ lines, paymentToken }),
    settings: { paymentRetry: config.paymentRetry, attentionTimeoutMs: config.attentionTimeoutMs, ...settings },
  };
}

/** Starts an order workflow the way the API does (workflow id `order-<orderId>`), without waiting for anything. */
export async function startOrder(
  client: Client,
  config: Config,
  input: OrderWorkflowInput,
): Promise<WorkflowHandle<typeof orderWorkflow>> {
  return client.workflow.start<typeof orderWorkflow>(WORKFLOW_TYPE, {
    taskQueue: config.temporal.taskQueue,
    workflowId: workflowIdFor(input.orderId),
    args: [input],
  });
}

/** Waits until the `status` query shows `status` (and `extra`, if given, holds); returns that view. */
export async function waitForStatus(
  handle: WorkflowHandle,
  status: OrderStatus,
  extra: (view: OrderStatusView) => boolean = () => true,
  timeoutMs?: number,
): Promise<OrderStatusView> {
  return waitFor(
    `order ${handle.workflowId} in ${status}`,
    async () => {
      const view = await handle.query(statusQuery);
      return view.status === status && extra(view) ? view : undefined;
    },
    timeoutMs,
  );
}

/** The rows an order leaves behind. */
export interface OrderRows {
  order: Pick<OrderRow, 'status' | 'total_cents' | 'failure_reason'> | undefined;
  events: Pick<EventRow, 'seq' | 'status' | 'detail'>[];
  reservations: { product_id: number; quantity: number; status: string }[];
  payments: Pick<PaymentRow, 'idempotency_key' | 'amount_cents' | 'status' | 'attempts'>[];
}

/**
 * An order's rows in every table the saga writes, read in one REPEATABLE READ transaction: separate queries once saw
 * the order row CANCELLED while its events still ended at PAID.
 */
export async function orderRows(db: Knex, orderId: string): Promise<OrderRows> {
  return db.transaction(async (trx) => {
    const order = await trx<NonNullable<OrderRows['order']>>(TABLES.orders)
      .where('id', orderId)
      .first('status', 'total_cents', 'failure_reason');
    const events = await trx<OrderRows['events'][number]>(TABLES.orderEvents)
      .where('order_id', orderId)
      .orderBy('seq')
      .select('seq', 'status', 'detail');
    const reservations = await trx<OrderRows['reservations'][number]>(TABLES.stockReservations)
      .where('order_id', orderId)
      .orderBy('product_id')
      .select('product_id', 'quantity', 'status');
    const payments = await trx<OrderRows['payments'][number]>(TABLES.payments)
      .where('order_id', orderId)
      .select('idempotency_key', 'amount_cents', 'status', 'attempts');
    return { order, events, reservations, payments };
  }, SNAPSHOT);
}

/** Current stock of one product. */
export async function stockOf(db: Knex, sku: string): Promise<number> {
  const row = await db<{ stock: number }>(TABLES.products).where('sku', sku).first('stock');
  if (row === undefined) throw new Error(`no product ${sku}`);
  return row.stock;
}

/** Runs the real Temporal CLI against the test server, as an operator would; returns stdout. */
export async function temporalCli(config: Config, args: string[]): Promise<string> {
  const { address, namespace } = config.temporal;
  const { stdout } = await run(temporalCliPath(), [...args, '--address', address, '--namespace', namespace]);
  return stdout;
}

/** Runs `npm run gateway -- <args>` (the operator's outage switch) against the test database; returns stdout. */
export async function gatewayCli(config: Config, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/gateway.ts', ...args], {
    cwd: path.resolve(__dirname, '..', '..'),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', DATABASE_URL: config.databaseUrl },
  });
  return stdout;
}

/** Whether histories are being recorded (`RECORD_HISTORIES=1 npx jest test/integration/saga.test.ts`). */
export const RECORDING_HISTORIES = process.env.RECORD_HISTORIES === '1';

/** When recording, saves a finished order's history (`temporal workflow show --output json`) as a replay fixture. */
export async function recordHistory(config: Config, handle: WorkflowHandle, scenario: string): Promise<void> {
  if (!RECORDING_HISTORIES) return;
  const json = await temporalCli(config, ['workflow', 'show', '--workflow-id', handle.workflowId, '--output', 'json']);
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(path.join(HISTORIES_DIR, `${scenario}.json`), json.endsWith('\n') ? json : `${json}\n`);
}
