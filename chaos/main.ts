/**
 * `npm run chaos` (docs/chaos.md): its own stack, a mixed load under faults, an operator for NEEDS_ATTENTION, then
 * quiescence, checks and the summary; everything it started is stopped, also on Ctrl-C or an error. Exit code: 0 no
 * violation, 1 violations, 2 the run failed, 130 interrupted.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { runMain } from '../lib/cli';
import { TABLES } from '../lib/db';
import { stackOf } from '../lib/error-text';
import { sleep } from '../lib/sleep';
import { TERMINAL_STATUSES, WORKFLOW_TYPE } from '../workflows/definitions';
import { runChecks, scanLogs } from './checks';
import { planFaults, runFaults, type FaultRecord } from './faults';
import { answerText, createCustomers, startLoad } from './load';
import { startOps, type Ops } from './ops';
import { createRandom, parseChaosCommandLine, type ChaosOptions } from './options';
import { countBy, formatSummary, httpSummary, realtimeTotals, total, type RunSummary } from './report';
import { startSockets, type SocketFleet } from './sockets';
import { CHAOS_CATALOG, startChaosStack, type ChaosStack } from './stack';

const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const terminal = (statuses: Record<string, number>): number =>
  TERMINAL_STATUSES.reduce((n, s) => n + (statuses[s] ?? 0), 0);

async function countByStatus(db: Knex, table: string): Promise<Record<string, number>> {
  const rows = await db(table)
    .select('status')
    .count<{ status: string; count: string }[]>('* as count')
    .groupBy('status');
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}

/** Order workflows Temporal reports (with `running`, only those still running), or undefined when it cannot say. */
async function countWorkflows(stack: ChaosStack, running = false): Promise<number | undefined> {
  const query = `WorkflowType = "${WORKFLOW_TYPE}"${running ? ' AND ExecutionStatus = "Running"' : ''}`;
  return (await stack.client.workflow.count(query).catch(() => undefined))?.count;
}

/** Waits until every order is terminal and no workflow runs, the operator acting meanwhile; false on timeout. */
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
      const statuses = await countByStatus(stack.db, TABLES.orders);
      if (terminal(statuses) === total(statuses) && (await countWorkflows(stack, true)) === 0) return true;
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
  let progress: NodeJS.Timeout | undefined;
  try {
    stack = await startChaosStack({ ...options, log });
    const harness = stack;
    const services = stack.describe();
    const startedUp = Date.now();
    log(`chaos: stack up in ${seconds(startedUp - started)}s (API ${stack.apiUrl}, relay ${stack.relayUrl})`);

    const customers = createCustomers(options.customers, options.seed, stack.config.jwtSecret);
    fleet = startSockets(stack.relayUrl, customers);
    const sockets = fleet;
    for (let i = 0; i < 100 && sockets.connected() < customers.length; i += 1) await sleep(100);

    const faults: FaultRecord[] = [];
    const loadStart = Date.now();
    const loadMs = Math.min(options.seconds, options.orders / options.ratePerSecond) * 1000;
    const plan = planFaults(options.quick, loadMs, faultRandom);
    const load = startLoad({
      ...options,
      apiUrl: stack.apiUrl,
      deadline: loadStart + options.seconds * 1000,
      customers,
      random,
      signal,
      onOrder: (customerId, orderId) => sockets.track(customerId, orderId),
    });
    const { records } = load;
    ops = startOps({
      db: stack.db,
      client: stack.client,
      random: faultRandom,
      tokenOf: (orderId) => records.orders.find((order) => order.orderId === orderId)?.tokenKind,
    });
    let phase = 'load';
    progress = setInterval(() => {
      void (async () => {
        const placed = countBy(records.orders, (o) => o.outcome);
        let db = 'db ?';
        try {
          const statuses = await countByStatus(harness.db, TABLES.orders);
          db = `db terminal ${terminal(statuses)}/${total(statuses)}, NEEDS_ATTENTION ${statuses.NEEDS_ATTENTION ?? 0}`;
        } catch {
          // the harness pool is never cut, but the server may be busy; the next line will tell
        }
        log(
          `[chaos ${String(Math.round((Date.now() - loadStart) / 1000)).padStart(4)}s ${phase}] ` +
            `orders ${records.orders.length}/${options.orders} (accepted ${placed.accepted ?? 0}, rejected ${placed.rejected ?? 0}), ` +
            `in flight ${records.inFlight} | ${db} | faults ${faults.length}/${plan.length} | ` +
            `5xx ${records.serverErrors.length} | sockets ${sockets.connected()}/${customers.length}`,
        );
      })();
    }, 5000);
    log(
      `chaos: load of ${options.orders} orders over ~${seconds(loadMs)}s with ${plan.length} faults (seed ${options.seed})`,
    );
    const injecting = runFaults(plan, { stack, random: faultRandom, startedAt: loadStart, signal, log, faults });
    await load.done;
    phase = 'faults';
    await injecting;
    const loadEnd = Date.now();

    phase = 'quiescence';
    log('chaos: load done; waiting for every order to be terminal (ops resolve NEEDS_ATTENTION)');
    const quiescent = await waitForQuiescence(stack, ops, options.quiescenceSeconds * 1000, signal);
    const quiet = Date.now();
    clearInterval(progress);
    await ops.stop();
    if (signal.aborted) throw new Error('interrupted');
    log(quiescent ? 'chaos: quiescent; socket catch-up and checks' : 'chaos: quiescence wait ran out; checking anyway');

    await sockets.catchUp(30_000);
    const secrets = [...stack.secrets, ...load.secrets()];
    const checks = await runChecks({
      db: stack.db,
      initialStock: new Map(CHAOS_CATALOG.map((p) => [p.sku, p.stock])),
      ...records,
      faults,
      views: sockets.views,
      openWorkflows: await countWorkflows(stack, true),
      orderWorkflows: await countWorkflows(stack),
      crashes: stack.crashes,
    });
    const finalStatuses = await countByStatus(stack.db, TABLES.orders);
    const payments = await countByStatus(stack.db, TABLES.payments);
    const rows = await stack.db(TABLES.orders).select<{ id: string; status: string }[]>('id', 'status');
    const finalOf = new Map(rows.map((row) => [row.id, row.status]));

    sockets.close();
    await stack.stop();
    // Every process has stopped and flushed: scan the complete logs (the shutdown lines included).
    checks.push(scanLogs(stack.logDir, secrets));
    const done = Date.now();

    const byToken: RunSummary['byToken'] = {};
    for (const order of records.orders) {
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
      placed: countBy(records.orders, (o) => o.outcome),
      faults,
      ops: ops.records,
      http: httpSummary(records, faults),
      cancels: countBy(records.cancels, (c) => answerText(c.status, c.error)),
      repeats: {
        sameBody: records.repeats.filter((r) => r.kind === 'same_body').length,
        otherBody: records.repeats.filter((r) => r.kind === 'other_body').length,
      },
      realtime: realtimeTotals(sockets.views),
      checks,
      violations: checks.reduce((n, check) => n + check.violations.length, 0),
    };
  } finally {
    clearInterval(progress);
    await ops?.stop();
    fleet?.close();
    await stack?.stop();
  }
}

async function main(): Promise<number> {
  const options = parseChaosCommandLine();
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
    log(`chaos: the run failed: ${stackOf(error)}`);
    return 2;
  }
}

runMain('chaos', main, { exitCode: 2, stack: true });
