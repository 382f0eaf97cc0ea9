/** What the API suites share: the app on an ephemeral port over the real services, recorded exchanges, snapshots. */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Client } from '@temporalio/client';
import type { Worker, WorkflowBundle } from '@temporalio/worker';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { z } from 'zod';
import { createApp, type AppOptions, type OrderFlowApp } from '../../api/app';
import { signToken, type SignTokenOptions } from '../../lib/auth';
import { API_OPERATIONS, GENERIC_RESPONSES } from '../../api/openapi';
import type { Config } from '../../lib/config';
import { TABLES } from '../../lib/db';
import { listen } from '../../lib/http/listen';
import { createLogger } from '../../lib/logger';
import { createDataConverter } from '../../lib/codec';
import { connectClient } from '../../lib/temporal';
import { bundleOrderWorkflows } from '../../worker/create-worker';
import { insertOrder, installQuietRuntime, runOrderWorker, testActivities } from './saga-helpers';
import { insertProducts, testConfig, testDb, testRedis, uniqueSku } from './services';
import { waitFor } from './wait';

/** One request and its answer, as the API suites record them. */
export interface Exchange {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when the body is not JSON. */
  body: unknown;
  text: string;
}

/** Options of one request. */
export interface RequestOptions {
  token?: string;
  /** A JSON value (serialised) or a raw string/Buffer sent as is. */
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/** Everything an API suite talks to; `close()` in afterAll. */
export interface ApiHarness {
  config: Config;
  db: Knex;
  redis: Redis;
  client: Client;
  app: OrderFlowApp;
  baseUrl: string;
  worker: Worker | undefined;
  exchanges: Exchange[];
  /** A token for `customerId` signed with the suite's secret. */
  token(customerId: string, options?: SignTokenOptions): string;
  request(method: string, path: string, options?: RequestOptions): Promise<Exchange>;
  close(): Promise<void>;
}

/** Options of `createApiHarness`. */
export interface ApiHarnessOptions {
  /** Environment overrides for `testConfig`. */
  env?: Record<string, string>;
  /** Run an in-process worker. @default true */
  worker?: boolean;
  /** A prebuilt bundle (one per file). */
  bundle?: WorkflowBundle;
  appOptions?: AppOptions;
  /** Use this Temporal client in the app instead of one connected to the test server. */
  temporal?: Client;
}

let bundlePromise: Promise<WorkflowBundle> | undefined;

/** The workflow bundle, built once per test file (module state is per file under jest). */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundlePromise ??= bundleOrderWorkflows();
  return bundlePromise;
}

/** Starts the app (and a worker) on the test services. */
export async function createApiHarness(options: ApiHarnessOptions = {}): Promise<ApiHarness> {
  installQuietRuntime();
  const config = testConfig({ RATE_LIMIT_PER_MINUTE: '1000000', ...options.env });
  const db = testDb(config);
  const redis = testRedis(config);
  // The suites encrypt payloads on both sides, as every client and worker must once the codec is on everywhere.
  const dataConverter = createDataConverter(config);
  const client = await connectClient(config.temporal, dataConverter);
  const started =
    options.worker === false
      ? undefined
      : await runOrderWorker({
          config,
          activities: testActivities(config, db, redis),
          workflowBundle: options.bundle ?? (await workflowBundle()),
          dataConverter,
        });
  const app = createApp({
    config,
    db,
    redis,
    temporal: options.temporal ?? client,
    logger: createLogger('api-test', 'error'),
    options: { processMetrics: false, ...options.appOptions },
  });
  const handle = app.callback();
  const server = http.createServer((req, res) => void handle(req, res));
  const baseUrl = `http://127.0.0.1:${(await listen(server, 0, '127.0.0.1')).port}`;
  const exchanges: Exchange[] = [];

  const request = async (method: string, path: string, req: RequestOptions = {}): Promise<Exchange> => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.token !== undefined) headers.authorization = `Bearer ${req.token}`;
    let body: string | Buffer | undefined = req.raw;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    const exchange = { method, path, status: response.status, headers: response.headers, body: parsed, text };
    exchanges.push(exchange);
    return exchange;
  };

  return {
    config,
    db,
    redis,
    client,
    app,
    baseUrl,
    worker: started?.worker,
    exchanges,
    token: (customerId, tokenOptions) => signToken(customerId, config.jwtSecret, tokenOptions),
    request,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await started?.stop();
      await client.connection.close();
      await Promise.allSettled([db.destroy(), redis.quit()]);
    },
  };
}

/** An API harness for a whole file, created (and seeded) in beforeAll: read its fields in hooks and tests only. */
export function apiHarnessForFile(
  options: ApiHarnessOptions = {},
  seed?: (h: ApiHarness) => Promise<void>,
): ApiHarness {
  const h = {} as ApiHarness;
  beforeAll(async () => {
    Object.assign(h, await createApiHarness(options));
    await seed?.(h);
  });
  afterAll(async () => {
    await h.close?.();
  });
  return h;
}

/** The boundary suites' file-wide world: a harness, a product `sku`, and Alice with an order row (no workflow). */
export function boundaryWorld(label: string, product: { stock: number; priceCents?: number }) {
  const sku = uniqueSku(label);
  const alice = `cust-${randomUUID().slice(0, 8)}`;
  const aliceOrderId = randomUUID();
  const h = apiHarnessForFile({}, async ({ db }) => {
    await insertProducts(db, [{ sku, ...product }]);
    await insertOrder(db, { customer_id: alice, request_hash: 'x'.repeat(64) }, aliceOrderId);
  });
  return { h, sku, alice, aliceOrderId };
}

/** Waits until the order's row shows `status` (read through the database, as the API does). */
export async function waitForOrderStatus(db: Knex, orderId: string, statuses: string[]): Promise<string> {
  return waitFor(`order ${orderId} in ${statuses.join('|')}`, async () => {
    const row = await db(TABLES.orders).where({ id: orderId }).first<{ status: string } | undefined>('status');
    return row !== undefined && statuses.includes(row.status) ? row.status : undefined;
  });
}

/** Row counts of every table the saga writes, plus total stock: equal snapshots mean nothing changed. */
export async function snapshot(db: Knex): Promise<Record<string, number>> {
  const result = await db.raw<{ rows: Record<string, string>[] }>(
    `select (select count(*) from ${TABLES.orders}) as orders,
            (select count(*) from ${TABLES.orderItems}) as order_items,
            (select count(*) from ${TABLES.orderEvents}) as order_events,
            (select count(*) from ${TABLES.payments}) as payments,
            (select count(*) from ${TABLES.stockReservations}) as reservations,
            (select coalesce(sum(stock), 0) from ${TABLES.products}) as stock`,
  );
  const row = result.rows[0] ?? {};
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Number(value)]));
}

function matches(template: string, path: string): boolean {
  const pattern = new RegExp(`^${template.replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`);
  return pattern.test(path.split('?')[0] ?? path);
}

/** The documented response schema for an exchange, or a problem saying why there is none. */
export function documentedSchema(exchange: Pick<Exchange, 'method' | 'path' | 'status'>): z.ZodType | string {
  const method = exchange.method.toLowerCase();
  const forPath = API_OPERATIONS.filter((op) => matches(op.path, exchange.path));
  const operation = forPath.find((op) => op.method === method);
  if (operation === undefined) {
    const generic = GENERIC_RESPONSES[exchange.status];
    if (generic === undefined) return `${exchange.method} ${exchange.path} -> ${exchange.status} is not documented`;
    return generic.schema;
  }
  const response = operation.responses[exchange.status] ?? GENERIC_RESPONSES[exchange.status];
  if (response === undefined) {
    return `${exchange.method} ${operation.path} does not document status ${exchange.status}`;
  }
  return response.schema;
}

/** Every recorded exchange whose status is undocumented or whose body does not match its documented schema. */
export function undocumentedExchanges(exchanges: Exchange[]): string[] {
  const problems: string[] = [];
  for (const exchange of exchanges) {
    if (exchange.method === 'HEAD' || exchange.method === 'OPTIONS') continue;
    const schema = documentedSchema(exchange);
    if (typeof schema === 'string') {
      problems.push(schema);
      continue;
    }
    const result = schema.safeParse(exchange.body);
    if (!result.success) {
      problems.push(
        `${exchange.method} ${exchange.path} -> ${exchange.status}: ${JSON.stringify(exchange.body).slice(0, 300)} ` +
          `does not match: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
  }
  return problems;
}

/** A POST /orders body. */
export function orderBody(items: { sku: string; quantity: number }[], token = 'tok_ok'): unknown {
  return { items, payment: { token } };
}
