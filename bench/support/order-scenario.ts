/**
 * What `spread` and `hot` share: real orders (`tok_ok`, `PAYMENT_LATENCY_MS=0`) through the API process at a fixed
 * concurrency, each client loop placing an order with POST /orders and waiting for its COMPLETED event on an admin
 * Socket.IO client of the relay; then the docs/design.md invariants on the scenario's products and orders, and PostgreSQL's
 * deadlock counter over the scenario.
 */
import { randomUUID } from 'node:crypto';
import { loadConfigOrExit } from '../../lib/config';
import type { BenchOptions } from '../main';
import { numberArg } from './args';
import { checkRun, createProducts, deadlockCount, removeBenchRows, settle } from './catalog';
import { cpuWindow, only } from './cpu';
import { countHistories, spreadSample } from './history';
import { closedLoop, openLoop, type PhaseResult } from './load';
import { createOrderClient, type OrderClient } from './orders';
import { loadReport, type LoadReport } from './report';
import type { AppProcesses } from './stack';

/** Concurrency of the closed-loop scenarios unless `--concurrency=N`. */
export const DEFAULT_CONCURRENCY = 32;

/** Measured seconds per scenario in a full run, split over its rounds. */
const FULL_MEASURED_MS = 36_000;

/** Warm-up and measured window of one round of a closed-loop scenario. */
export function phaseDurations(quick: boolean, rounds: number): { warmupMs: number; durationMs: number } {
  return quick
    ? { warmupMs: 2000, durationMs: 4000 }
    : { warmupMs: 4000, durationMs: Math.round(FULL_MEASURED_MS / rounds) };
}

/** Stock of every bench product: far more than a run can order. */
const AMPLE_STOCK = 10_000_000;

/** What an order scenario hands back besides its load report. */
export interface OrderRun {
  report: LoadReport;
  deadlocks: number;
  /** Invariant violations and orders that did not complete, one line each. */
  violations: string[];
  statuses: Record<string, number>;
}

/** Waits `ms` (the pause after a load phase), or less if the run is aborted. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Per-process peak RSS since the last reset. */
export function peakRss(app: AppProcesses): Record<string, number | undefined> {
  return { worker: app.worker.peakRssMb(), api: app.api.peakRssMb(), relay: app.relay.peakRssMb() };
}

/**
 * Runs one order scenario on `skuCount` fresh products. `extra` runs after the closed loop with the same client and
 * catalogue (the knee ramp of `spread`); its orders are checked with the rest. Peak RSS covers the closed loop only, so
 * `spread` and `hot` compare like for like.
 */
export async function runOrderScenario(
  name: string,
  options: BenchOptions,
  skuCount: number,
  extra?: (place: OpenPlace) => Promise<void>,
  onClosedLoop?: (phase: PhaseResult) => void,
): Promise<OrderRun> {
  const { stack, quick, args, log, round } = options;
  const concurrency = numberArg(args, 'concurrency', DEFAULT_CONCURRENCY);
  const app = await stack.app();
  const run = randomUUID().slice(0, 8).toUpperCase();
  const customerPrefix = `bench-${name}-${run}-`;
  const skus = await createProducts(stack.db, `BENCH-${name.toUpperCase()}-${run}`, skuCount, AMPLE_STOCK);
  const initialStock = new Map(skus.map((sku) => [sku, AMPLE_STOCK]));
  const customers = Array.from({ length: Math.max(concurrency, 64) }, (_, i) => `${customerPrefix}${i}`);
  let client: OrderClient | undefined;
  try {
    client = await createOrderClient({
      apiUrl: app.apiUrl,
      relayUrl: app.relayUrl,
      jwtSecret: loadConfigOrExit().jwtSecret,
      customers,
    });
    const orders = client;
    const pick = (i: number): string => skus[Math.floor(Math.random() * skus.length)] ?? skus[i % skus.length] ?? '';
    const deadlocksBefore = await deadlockCount(stack.db, false);
    for (const service of [app.worker, app.api, app.relay]) service.resetPeakRss();
    const cpu = cpuWindow(() => only(stack.pids(), ['temporal', 'worker', 'api', 'relay', 'postgres']));
    await stack.refreshPostgresPids();
    cpu.start();

    const phase: PhaseResult = await closedLoop({
      label: round.count > 1 ? `${name} ${round.index + 1}/${round.count}` : name,
      concurrency,
      ...phaseDurations(quick, round.count),
      operation: (i) => orders.place(pick(i), i),
      log,
      signal: stack.signal,
    });
    if (stack.signal.aborted) throw stack.signal.reason;
    for (const sample of phase.errorSamples) log(`   error: ${sample}`);
    if (phase.completed === 0) throw new Error(`no order completed; first error: ${phase.errorSamples[0] ?? 'none'}`);
    onClosedLoop?.(phase);
    const peaks = peakRss(app);
    // The pause bills Temporal's deferred work to this scenario and keeps it out of the next; a quick run skips it
    // after its last scenario when no knee ramp follows (its CPU then misses that deferred share).
    let paused = !(options.quick && options.lastInRun && extra === undefined) && options.drainMs >= 1500;
    if (paused) await pause(options.drainMs, stack.signal);
    await stack.refreshPostgresPids(); // backends opened meanwhile count in full
    const usage = cpu.stop();
    if (extra !== undefined) {
      await extra({
        run: (label, rate, durationMs, maxInFlight) =>
          openLoop({
            label,
            rate,
            durationMs,
            maxInFlight,
            operation: (i) => orders.place(pick(i), i),
            log,
            signal: stack.signal,
          }),
      });
      if (!options.lastInRun) await pause(options.drainMs, stack.signal);
      else paused = false; // the knee's orders just finished: their statistics still need the flush
      if (stack.signal.aborted) throw stack.signal.reason;
    }
    const loaded = loadReport('orders', concurrency, phase, peaks, usage);
    const history = await countHistories((await stack.temporal()).client, spreadSample(phase.workflowIds));
    const report = history === undefined ? loaded : { ...loaded, history };

    await settle(stack.db, customerPrefix, 60_000);
    // After a pause the backends' statistics are flushed already; right after load they need a moment.
    const deadlocks = (await deadlockCount(stack.db, !paused)) - deadlocksBefore;
    const check = await checkRun(stack.db, initialStock, customerPrefix);
    const violations = check.violations.map((v) => `${v.invariant} ${v.subject}: ${v.message}`);
    for (const [status, count] of Object.entries(check.statuses)) {
      if (status !== 'COMPLETED') violations.push(`orders_completed: ${count} order(s) ended ${status}`);
    }
    return { report, deadlocks, violations, statuses: check.statuses };
  } finally {
    client?.close();
    if (!stack.ownDatabase) await removeBenchRows(stack.db, customerPrefix, skus);
  }
}

/** Runs an open-loop phase on the scenario's client and catalogue. */
export interface OpenPlace {
  run(label: string, rate: number, durationMs: number, maxInFlight: number): Promise<PhaseResult>;
}
