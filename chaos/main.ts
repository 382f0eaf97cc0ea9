/**
 * `npm run chaos [-- --quick] [--orders N] [--seconds S] [--workers N] [--seed N] [--run-dir DIR] [--keep-db]`:
 * a bounded chaos run of the whole stack on loopback. It starts its own stack (chaos/stack.ts), places a mixed load
 * (chaos/load.ts) while injecting faults (chaos/faults.ts), resolves NEEDS_ATTENTION orders as an operator would
 * (chaos/ops.ts), waits for quiescence, checks everything that must hold (chaos/checks.ts), prints the summary
 * (chaos/report.ts) and stops everything it started, also on Ctrl-C or an error.
 * Exit code: 0 no violation, 1 violations, 2 the run itself could not be carried out, 130 interrupted.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseCommandLine, usageError, UsageError } from '../lib/cli';
import { TABLES } from '../lib/db';
import { TERMINAL_STATUSES, WORKFLOW_TYPE } from '../workflows/definitions';
import { runChecks, scanLogs, type CheckResult } from './checks';
import { planFaults, runFaults, type FaultRecord } from './faults';
import { createCustomers, startLoad } from './load';
import { startOps, type Ops } from './ops';
import { CHAOS, CHAOS_OPTIONS, chaosOptions, createRandom, type ChaosOptions } from './options';
import {
  countBy,
  formatSummary,
  planned5xx,
  realtimeTotals,
  serverErrorLog,
  startProgress,
  type RunSummary,
} from './report';
import { startSockets, type SocketFleet } from './sockets';
import { CHAOS_CATALOG, startChaosStack, type ChaosStack } from './stack';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number): number => Math.round(ms / 100) / 10;

/** Counts orders by status in the chaos database. */
async function statusCounts(stack: ChaosStack): Promise<Record<string, number>> {
  const rows = await stack
    .db(TABLES.orders)
    .select('status')
    .count<{ status: string; count: string }[]>('* as count')
    .groupBy('status');
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}

/** Order workflows Temporal reports (`query` narrows them), or undefined when it cannot say. */
async function countWorkflows(stack: ChaosStack, query = ''): Promise<number | undefined> {
  try {
    const { count } = await stack.client.workflow.count(`WorkflowType = "${WORKFLOW_TYPE}"${query}`);
    return count;
  } catch {
    return undefined;
  }
}

/** Order workflows still running. */
const openWorkflows = (stack: ChaosStack): Promise<number | undefined> =>
  countWorkflows(stack, ' AND ExecutionStatus = "Running"');

/**
 * Waits until every order in the database is terminal and Temporal runs no workflow, with the operator resolving
 * NEEDS_ATTENTION meanwhile; false if `timeoutMs` runs out first.
 */
async function waitForQuiescence(
  stack: ChaosStack,
  ops: Ops,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal.aborted) {
    try {
      await ops.round();
      const statuses = await statusCounts(stack);
      const open = Object.entries(statuses)
        .filter(([status]) => !(TERMINAL_STATUSES as readonly string[]).includes(status))
        .reduce((n, [, count]) => n + count, 0);
      if (open === 0 && (await openWorkflows(stack)) === 0) return true;
    } catch {
      // a busy moment; ask again
    }
    await sleep(1000);
  }
  return false;
}

async function run(options: ChaosOptions, log: (line: string) => void, signal: AbortSignal): Promise<RunSummary> {
  const started = Date.now();
  const random = createRandom(options.seed);
  const faultRandom = createRandom(options.seed + 1);
  let stack: ChaosStack | undefined;
  let fleet: SocketFleet | undefined;
  let ops: Ops | undefined;
  let progress: { stop(): void } | undefined;
  try {
    stack = await startChaosStack({
      runDir: options.runDir,
      workers: options.workers,
      keepDatabase: options.keepDatabase,
      log,
    });
    const services = stack.describe();
    const jwtSecret = stack.config.jwtSecret;
    const startedUp = Date.now();
    log(`chaos: stack up in ${seconds(startedUp - started)}s (API ${stack.apiUrl}, relay ${stack.relayUrl})`);

    const customers = createCustomers(options.customers, options.seed, jwtSecret);
    fleet = startSockets(stack.relayUrl, customers);
    const sockets = fleet;
    for (let i = 0; i < 100 && sockets.connected() < customers.length; i += 1) await sleep(100);

    const faults: FaultRecord[] = [];
    const loadStart = Date.now();
    const loadMs = Math.min(options.seconds, options.orders / options.ratePerSecond) * 1000;
    const plan = planFaults(options.faults, loadMs, faultRandom);
    const load = startLoad({
      apiUrl: stack.apiUrl,
      catalog: CHAOS_CATALOG,
      orders: options.orders,
      ratePerSecond: options.ratePerSecond,
      deadline: loadStart + options.seconds * 1000,
      customers,
      seed: options.seed,
      random,
      signal,
      onOrder: (customerId, orderId) => sockets.track(customerId, orderId),
    });
    ops = startOps({
      db: stack.db,
      client: stack.client,
      random: faultRandom,
      tokenOf: (orderId) => load.records.orders.find((order) => order.orderId === orderId)?.tokenKind,
    });
    const state = {
      phase: 'load',
      records: load.records,
      ordersTarget: options.orders,
      statuses: () => statusCounts(stack as ChaosStack),
      faultsDone: () => faults.length,
      faultsPlanned: plan.length,
      sockets: () => sockets.connected(),
      customers: customers.length,
    };
    progress = startProgress(state, log);
    log(
      `chaos: load of ${options.orders} orders over ~${seconds(loadMs)}s with ${plan.length} faults (seed ${options.seed})`,
    );
    const injecting = runFaults(plan, {
      stack,
      random: faultRandom,
      startedAt: loadStart,
      signal,
      log,
      records: faults,
    });
    await load.done;
    state.phase = 'faults';
    await injecting;
    const loadEnd = Date.now();

    state.phase = 'quiescence';
    log('chaos: load done; waiting for every order to be terminal (ops resolve NEEDS_ATTENTION)');
    const quiescent = await waitForQuiescence(stack, ops, options.quiescenceSeconds * 1000, signal);
    const quiet = Date.now();
    progress.stop();
    await ops.stop();
    if (signal.aborted) throw new Error('interrupted');
    log(quiescent ? 'chaos: quiescent; socket catch-up and checks' : 'chaos: quiescence wait ran out; checking anyway');

    await sockets.catchUp(30_000);
    const secrets = [...stack.secrets, ...load.secrets()];
    const checks: CheckResult[] = await runChecks({
      db: stack.db,
      initialStock: new Map(CHAOS_CATALOG.map((p) => [p.sku, p.stock])),
      orders: load.records.orders,
      repeats: load.records.repeats,
      serverErrors: load.records.serverErrors,
      unexpected: load.records.unexpected,
      requests: load.records.requests,
      faults,
      views: sockets.views,
      openWorkflows: await openWorkflows(stack),
      orderWorkflows: await countWorkflows(stack),
      crashes: stack.crashes,
    });
    const finalStatuses = await statusCounts(stack);
    const payments = Object.fromEntries(
      (
        await stack
          .db(TABLES.payments)
          .select('status')
          .count<{ status: string; count: string }[]>('* as count')
          .groupBy('status')
      ).map((row) => [row.status, Number(row.count)]),
    );
    const finalOf = new Map(
      (await stack.db(TABLES.orders).select<{ id: string; status: string }[]>('id', 'status')).map((r) => [
        r.id,
        r.status,
      ]),
    );

    sockets.close();
    fleet = undefined;
    const logDir = stack.logDir;
    await stack.stop();
    stack = undefined;
    // Every process has stopped and flushed: scan the complete logs (the shutdown lines included).
    checks.push(scanLogs(logDir, secrets));
    const done = Date.now();

    const byToken: RunSummary['byToken'] = {};
    for (const order of load.records.orders) {
      const final = order.orderId === undefined ? `(${order.outcome})` : (finalOf.get(order.orderId) ?? '(no row)');
      const row = (byToken[order.tokenKind] ??= {});
      row[final] = (row[final] ?? 0) + 1;
    }
    return {
      options: {
        orders: options.orders,
        seconds: options.seconds,
        workers: options.workers,
        customers: options.customers,
        seed: options.seed,
        quick: options.quick,
        runDir: options.runDir,
      },
      services,
      startedAt: new Date(started).toISOString(),
      durations: {
        startup: seconds(startedUp - started),
        load: seconds(loadEnd - loadStart),
        quiescence: seconds(quiet - loadEnd),
        checks: seconds(done - quiet),
        total: seconds(done - started),
      },
      quiescent,
      finalStatuses,
      payments,
      byToken,
      placed: countBy(load.records.orders, (o) => o.outcome),
      faults,
      ops: ops.records,
      http: {
        requests: load.records.requests,
        answers: Object.fromEntries(load.records.answers),
        planned5xx: planned5xx(load.records, faults),
        serverErrors: serverErrorLog(load.records, faults),
      },
      cancels: countBy(load.records.cancels, (c) => `${c.status}${c.error !== undefined ? ` ${c.error}` : ''}`),
      repeats: {
        sameBody: load.records.repeats.filter((r) => r.kind === 'same_body').length,
        otherBody: load.records.repeats.filter((r) => r.kind === 'other_body').length,
      },
      realtime: realtimeTotals(sockets.views),
      checks,
      violations: checks.reduce((n, check) => n + check.violations.length, 0),
    };
  } finally {
    progress?.stop();
    await ops?.stop();
    fleet?.close();
    await stack?.stop();
  }
}

async function main(): Promise<number> {
  const { values } = parseCommandLine(CHAOS, { options: CHAOS_OPTIONS });
  let options: ChaosOptions;
  try {
    options = chaosOptions(values);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usageError(CHAOS, error.message);
  }
  mkdirSync(options.runDir, { recursive: true });
  const harnessLog = path.join(options.runDir, 'chaos.log');
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
    appendFileSync(harnessLog, `${new Date().toISOString()} ${line}\n`);
  };

  const controller = new AbortController();
  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      log(`chaos: second ${signal}; exiting without cleanup`);
      process.exit(130);
    }
    interrupted = true;
    log(`chaos: ${signal}: stopping the load and everything the run started...`);
    controller.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  try {
    const summary = await run(options, log, controller.signal);
    writeFileSync(path.join(options.runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`${formatSummary(summary)}\n`);
    return summary.violations === 0 ? 0 : 1;
  } catch (error) {
    if (interrupted) {
      log('chaos: interrupted; everything it started is stopped');
      return 130;
    }
    log(`chaos: the run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
