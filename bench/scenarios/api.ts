/**
 * POST /orders latency against the raw SDK: the same order placed the same way (update-with-start of `orderWorkflow`
 * waiting for `reservation`) through the stack's API process (JWT, rate limit, validation, idempotency, Koa) and by
 * `executeUpdateWithStart` on its worker's queue, in alternating rounds. Goal: API p99 <= 1.5 x SDK p99.
 */
import { randomUUID } from 'node:crypto';
import { signToken } from '../../lib/auth';
import { loadConfigOrExit, type Config } from '../../lib/config';
import { requestHashOf } from '../../lib/order-lines';
import { checkInvariants } from '../../lib/invariants';
import { insertProductsWithLedger } from '../../lib/ledger';
import { startOrder, workflowInput } from '../../lib/order-workflow';
import type { BenchOptions, ScenarioResult } from '../contract';
import { removeBenchRows, settle } from '../support/catalog';
import { callApi } from '../support/http';
import { timedCalls } from '../support/load';
import { machineFigures, round, summarize } from '../support/stats';

const CONCURRENCY = 8;
const GOAL_RATIO = 1.5;

/** Runs the scenario; `--quick` does one short round per side. */
export async function run({ stack, quick, log }: BenchOptions): Promise<ScenarioResult> {
  const base = loadConfigOrExit();
  const runId = randomUUID().slice(0, 8);
  // The SDK side starts where the stack's API does: on its worker's task queue.
  const config: Config = { ...base, temporal: { ...base.temporal, taskQueue: stack.taskQueue } };
  const rounds = quick ? 1 : 6;
  const perRound = quick ? 40 : 150;
  const warmup = CONCURRENCY * 2;
  const perSide = rounds * perRound + warmup;
  const sku = `BENCH-API-${runId.toUpperCase()}`;
  // One prefix for both sides' customers: how the run's orders are found to settle and remove them.
  const customerPrefix = `bench-api-${runId}-`;
  const customers = { api: `${customerPrefix}api`, sdk: `${customerPrefix}sdk` };

  const { db } = stack;
  // Both sides encrypt payloads like production does (docs/security.md): the stack's client has the API's codec.
  const { client } = await stack.temporal();
  const app = await stack.app();
  const token = signToken(customers.api, config.jwtSecret);
  const body = { items: [{ sku, quantity: 1 }], payment: { token: 'tok_ok' } };
  // The request hash the API stores, which the placement checks against the lines and token.
  const requestHash = requestHashOf({ lines: body.items, paymentToken: body.payment.token });

  try {
    await insertProductsWithLedger(db, [{ sku, name: 'bench (api)', priceCents: 500, stock: perSide * 2 }]);

    const viaApi = async (): Promise<void> => {
      const headers = { 'idempotency-key': randomUUID() };
      const answer = await callApi(app.apiUrl, 'POST', '/orders', { token, body, headers, timeoutMs: 60_000 });
      if (answer.status !== 201)
        throw new Error(`POST /orders answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    };
    const viaSdk = async (): Promise<void> => {
      const input = workflowInput(config, {
        orderId: randomUUID(),
        customerId: customers.sdk,
        lines: body.items,
        paymentToken: body.payment.token,
        requestHash,
      });
      const result = await startOrder(client, config, input, { timeoutMs: 60_000, retryAfterSeconds: 1 });
      if (result.kind !== 'decided' || result.outcome.status !== 'RESERVED') {
        throw new Error(`SDK order ${input.orderId} was not reserved: ${JSON.stringify(result)}`);
      }
    };

    const measure = (count: number, place: () => Promise<void>) => timedCalls(count, CONCURRENCY, place, stack.signal);
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
        ...machineFigures(),
      },
      goal: `API p99 / SDK p99 <= ${GOAL_RATIO}`,
      goalMet: ratio <= GOAL_RATIO,
    };
  } finally {
    // Leave the database as we found it (payment attempt counters included).
    await removeBenchRows(db, { customerPrefix, skus: [sku] });
  }
}
