/**
 * POST /orders latency against the raw SDK. Both sides place the same order the same way — update-with-start of
 * `orderWorkflow` waiting for the `reservation` update — one through the HTTP API (JWT, rate limit, body parsing,
 * validation, idempotency key, Koa) and one by calling `executeUpdateWithStart` directly. Same worker, same Temporal,
 * same database, rounds alternating so load bursts hit both alike. Goal: API p99 <= 1.5 x SDK p99.
 *
 * Needs PostgreSQL (migrated), Redis and Temporal from the environment (DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS, as
 * `npm start` provides them). Runs its own worker on a private task queue; cleans its rows up afterwards.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createActivities, createSimulatedGateway, gatewaySettingsFromConfig } from '../../activities';
import { createApp } from '../../api/app';
import { signToken } from '../../api/auth';
import { requestHashOf } from '../../api/idempotency';
import { startOrder, workflowInput } from '../../api/order-workflow';
import { createDataConverter } from '../../lib/codec';
import { loadConfigOrExit, type Config } from '../../lib/config';
import { createDb } from '../../lib/db';
import { checkInvariants } from '../../lib/invariants';
import { insertProductsWithLedger } from '../../lib/ledger';
import { createLogger } from '../../lib/logger';
import { createRedis } from '../../lib/redis';
import { connectionOptions, connectWorker } from '../../lib/temporal';
import { bundleOrderWorkflows, createOrderWorker } from '../../worker/create-worker';
import type { BenchOptions, ScenarioResult } from '../main';
import { removeBenchRows, settle } from '../support/catalog';
import { round, summarize } from '../support/stats';

const CONCURRENCY = 8;
const GOAL_RATIO = 1.5;

/** Runs `count` calls of `place` from CONCURRENCY loops; returns each call's latency in ms. */
async function measure(count: number, place: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < count; i = next++) {
        const started = performance.now();
        await place(i);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

/** Runs the scenario; `--quick` does one short round per side. */
export async function run({ quick, log }: BenchOptions): Promise<ScenarioResult> {
  const base = loadConfigOrExit();
  const runId = randomUUID().slice(0, 8);
  // A private task queue and a budget no bench can hit: we measure the API, not the rate limit.
  const config: Config = {
    ...base,
    logLevel: 'warn',
    rateLimitPerMinute: 1_000_000,
    temporal: { ...base.temporal, taskQueue: `bench-api-${runId}` },
  };
  const rounds = quick ? 1 : 6;
  const perRound = quick ? 40 : 150;
  const warmup = CONCURRENCY * 2;
  const perSide = rounds * perRound + warmup;
  const sku = `BENCH-API-${runId.toUpperCase()}`;
  // One prefix for both sides' customers: how the run's orders are found to settle and remove them.
  const customerPrefix = `bench-api-${runId}-`;
  const customers = { api: `${customerPrefix}api`, sdk: `${customerPrefix}sdk` };

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const db = createDb({ url: config.databaseUrl, poolMax: 20 });
  const redis = createRedis(config.redisUrl);
  const logger = createLogger('bench-api', 'warn');
  // Both sides encrypt payloads like production does (docs/security.md).
  const dataConverter = createDataConverter(config);
  const client = new Client({
    connection: await Connection.connect(connectionOptions(config.temporal)),
    namespace: config.temporal.namespace,
    dataConverter,
  });
  const connection = await connectWorker(config.temporal);
  const gateway = createSimulatedGateway({ db, ...gatewaySettingsFromConfig(config) });
  const activities = createActivities({ db, redis, redisKeyPrefix: config.redisKeyPrefix, gateway });
  const worker = await createOrderWorker({
    connection,
    config,
    activities,
    workflowBundle: await bundleOrderWorkflows(),
    dataConverter,
  });
  const running = worker.run();
  const app = createApp({ config, db, redis, temporal: client, logger, options: { processMetrics: false } });
  const handle = app.callback();
  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const token = signToken(customers.api, config.jwtSecret);
  const body = { items: [{ sku, quantity: 1 }], payment: { token: 'tok_ok' } };
  const payload = JSON.stringify(body);

  try {
    await insertProductsWithLedger(db, [{ sku, name: 'bench (api)', priceCents: 500, stock: perSide * 2 }]);

    const viaApi = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const request = http.request(
          url,
          {
            method: 'POST',
            agent,
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(payload),
              'idempotency-key': randomUUID(),
            },
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => {
              if (response.statusCode === 201) resolve();
              else
                reject(new Error(`POST /orders answered ${response.statusCode}: ${Buffer.concat(chunks).toString()}`));
            });
          },
        );
        request.on('error', reject);
        request.end(payload);
      });
    const viaSdk = async (): Promise<void> => {
      const input = workflowInput(config, {
        orderId: randomUUID(),
        customerId: customers.sdk,
        lines: body.items,
        paymentToken: body.payment.token,
        requestHash: requestHashOf(body),
      });
      const result = await startOrder(client, config, input, { timeoutMs: 60_000, retryAfterSeconds: 1 });
      if (result.kind !== 'decided' || result.outcome.status !== 'RESERVED') {
        throw new Error(`SDK order ${input.orderId} was not reserved: ${JSON.stringify(result)}`);
      }
    };

    await measure(warmup, viaApi);
    await measure(warmup, viaSdk);
    const latencies = { api: [] as number[], sdk: [] as number[] };
    for (let round = 0; round < rounds; round += 1) {
      const api = await measure(perRound, viaApi);
      const sdk = await measure(perRound, viaSdk);
      latencies.api.push(...api);
      latencies.sdk.push(...sdk);
      const [a, s] = [summarize(api), summarize(sdk)];
      log(`   round ${round + 1}/${rounds}: API p50 ${a.p50} ms p99 ${a.p99} ms, SDK p50 ${s.p50} ms p99 ${s.p99} ms`);
    }

    const open = await settle(db, customerPrefix, 120_000);
    if (open > 0) throw new Error(`${open} orders of the api scenario did not finish within 120 s`);
    const violations = await checkInvariants(db, { initialStock: new Map([[sku, perSide * 2]]) });
    if (violations.length > 0) throw new Error(`invariants broken after the bench: ${JSON.stringify(violations)}`);

    const [api, sdk] = [summarize(latencies.api), summarize(latencies.sdk)];
    const ratio = api.p99 / sdk.p99;
    return {
      scenario: 'api',
      figures: {
        'API POST /orders p50 ms': api.p50,
        'API POST /orders p99 ms': api.p99,
        'SDK executeUpdateWithStart p50 ms': sdk.p50,
        'SDK executeUpdateWithStart p99 ms': sdk.p99,
        'ratio p50 API/SDK': round(api.p50 / sdk.p50),
        'ratio p99 API/SDK': round(ratio),
        'orders per side': rounds * perRound,
        concurrency: CONCURRENCY,
        nproc: os.availableParallelism(),
        'load average (1 min) at end': Number(os.loadavg()[0]?.toFixed(2)),
      },
      goal: `API p99 / SDK p99 <= ${GOAL_RATIO}`,
      goalMet: ratio <= GOAL_RATIO,
    };
  } finally {
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    worker.shutdown();
    await running;
    await connection.close();
    await client.connection.close();
    // Leave the database as we found it (payment attempt counters included).
    await removeBenchRows(db, customerPrefix, [sku]);
    await redis.quit();
    await db.destroy();
  }
}
