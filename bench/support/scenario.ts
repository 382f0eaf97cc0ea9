/**
 * What the load scenarios share: a round is a closed loop at `--concurrency`, the pause (CPU still counted), optional
 * open-loop phases on the same operation (spread), then the history counts of a sample.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { requestHashOf } from '../../lib/order-lines';
import { orderStartOperation, workflowInput } from '../../lib/order-workflow';
import { loadConfigOrExit } from '../../lib/config';
import { formatViolation } from '../../lib/invariants';
import { reservationUpdate } from '../../workflows/definitions';
import type { BenchOptions, GoalCheck, ScenarioResult } from '../contract';
import { AMPLE_STOCK, checkRun, createProducts, deadlockCount, removeBenchRows, settle } from './catalog';
import { cpuWindow } from './cpu';
import { countHistories, spreadSample } from './history';
import { pause } from '../../lib/sleep';
import { closedLoop, openLoop, type Operation, type PhaseResult } from './load';
import { createOrderClient, type OrderClient } from './orders';
import type { StackProcess } from '../../stack';
import { loadFigures, loadReport, rate, type LoadReport } from './report';
import { round } from './stats';

/** Concurrency of the closed loops unless `--concurrency=N`. */
export const DEFAULT_CONCURRENCY = 32;

/** Measured seconds per scenario in a full run, split over its rounds. */
const FULL_MEASURED_MS = 36_000;

/** Warm-up and measured window of one round of a closed-loop scenario. */
export function phaseDurations(quick: boolean, rounds: number): { warmupMs: number; durationMs: number } {
  return quick
    ? { warmupMs: 2000, durationMs: 4000 }
    : { warmupMs: 4000, durationMs: Math.round(FULL_MEASURED_MS / rounds) };
}

/** One of `skus`, uniformly. */
export const randomSku = (skus: readonly string[]): string => skus[Math.floor(Math.random() * skus.length)] ?? '';

/** Runs an open-loop phase on the scenario's operation: label, offered rate/s, length, most operations in flight. */
export type OpenLoopRunner = (
  label: string,
  rate: number,
  durationMs: number,
  maxInFlight: number,
) => Promise<PhaseResult>;

/** Open-loop phases after the closed loop (spread's knee ramp or low-load step), and what they add to the report. */
export type AfterClosedLoop = (
  open: OpenLoopRunner,
  closed: PhaseResult,
) => Promise<Pick<LoadReport, 'knee' | 'lowLoad'>>;

/** One load scenario's round; `processes` (named as in `stack.pids()`) serve the load: their CPU and RSS count. */
interface LoadSpec {
  name: string;
  unit: LoadReport['unit'];
  operation: Operation;
  processes: Record<string, Pick<StackProcess, 'resetPeakRss' | 'peakRssMb'>>;
  after?: AfterClosedLoop;
}

/**
 * Runs one round: the closed loop, the pause, `after`, the history counts. `flushed`: PostgreSQL's statistics had
 * time to be flushed since the last operation (backends flush them at most once a second).
 */
async function measureLoad(options: BenchOptions, spec: LoadSpec): Promise<{ report: LoadReport; flushed: boolean }> {
  const { stack, quick, log } = options;
  const { index, count } = options.round;
  const { concurrency } = options.settings;
  for (const service of Object.values(spec.processes)) service.resetPeakRss();
  const measured = new Set(['temporal', 'postgres', ...Object.keys(spec.processes)]);
  const cpu = cpuWindow(() => Object.fromEntries(Object.entries(stack.pids()).filter(([name]) => measured.has(name))));
  await stack.refreshPostgresPids();
  cpu.start();
  const phase = await closedLoop({
    label: count > 1 ? `${spec.name} ${index + 1}/${count}` : spec.name,
    concurrency,
    ...phaseDurations(quick, count),
    operation: spec.operation,
    log,
    signal: stack.signal,
  });
  if (stack.signal.aborted) throw stack.signal.reason;
  for (const sample of phase.errorSamples) log(`   error: ${sample}`);
  if (phase.completed === 0) {
    throw new Error(`no ${spec.unit.slice(0, -1)} completed; first error: ${phase.errorSamples[0] ?? 'none'}`);
  }
  // Peak RSS covers the closed loop only, so every scenario compares like for like.
  const peaks = Object.fromEntries(Object.entries(spec.processes).map(([name, s]) => [name, s.peakRssMb()]));
  // The pause bills Temporal's deferred work to this scenario and keeps it out of the next; a quick run skips it
  // after its last scenario when no open loop follows (its CPU then misses that deferred share).
  const pausing = !(quick && options.lastInRun && spec.after === undefined);
  if (pausing) await pause(options.drainMs, stack.signal);
  let flushed = pausing && options.drainMs >= 1500;
  await stack.refreshPostgresPids(); // backends opened meanwhile count in full
  const usage = cpu.stop();
  let extra: Pick<LoadReport, 'knee' | 'lowLoad'> = {};
  if (spec.after !== undefined) {
    const open: OpenLoopRunner = (label, rate, durationMs, maxInFlight) =>
      openLoop({ label, rate, durationMs, maxInFlight, operation: spec.operation, log, signal: stack.signal });
    extra = await spec.after(open, phase);
    if (!options.lastInRun) await pause(options.drainMs, stack.signal);
    else flushed = false; // the open loop's operations just finished: their statistics still need the flush
    if (stack.signal.aborted) throw stack.signal.reason;
  }
  const history = await countHistories((await stack.temporal()).client, spreadSample(phase.workflowIds));
  const report = { ...loadReport(spec.unit, concurrency, phase, peaks, usage), ...extra };
  return { report: history === undefined ? report : { ...report, history }, flushed };
}

/** One round of `spread` or `hot` on `skuCount` fresh products, then their invariants and the round's deadlocks. */
export async function runOrderScenario(
  name: string,
  options: BenchOptions,
  skuCount: number,
  after?: AfterClosedLoop,
): Promise<ScenarioResult> {
  const { stack } = options;
  const app = await stack.app();
  const run = randomUUID().slice(0, 8).toUpperCase();
  const customerPrefix = `bench-${name}-${run}-`;
  const skus = await createProducts(stack.db, `BENCH-${name.toUpperCase()}-${run}`, skuCount);
  const { concurrency } = options.settings;
  let client: OrderClient | undefined;
  try {
    client = await createOrderClient({
      apiUrl: app.apiUrl,
      relayUrl: app.relayUrl,
      jwtSecret: loadConfigOrExit().jwtSecret,
      customers: Array.from({ length: Math.max(concurrency, 64) }, (_, i) => `${customerPrefix}${i}`),
    });
    const orders = client;
    const deadlocksBefore = await deadlockCount(stack.db, false);
    const { report, flushed } = await measureLoad(options, {
      name,
      unit: 'orders',
      operation: (i) => orders.place(randomSku(skus), i),
      processes: { worker: app.worker, api: app.api, relay: app.relay },
      ...(after !== undefined ? { after } : {}),
    });
    await settle(stack.db, customerPrefix, 60_000);
    const deadlocks = (await deadlockCount(stack.db, !flushed)) - deadlocksBefore;
    const check = await checkRun(stack.db, new Map(skus.map((sku) => [sku, AMPLE_STOCK])), customerPrefix);
    const violations = check.violations.map(formatViolation);
    for (const [status, count] of Object.entries(check.statuses)) {
      if (status !== 'COMPLETED') violations.push(`orders_completed: ${count} order(s) ended ${status}`);
    }
    const figures = loadFigures(report);
    return { scenario: name, figures, load: report, violations, deadlocks, orderStatuses: check.statuses };
  } finally {
    client?.close();
    if (!stack.ownDatabase) await removeBenchRows(stack.db, { customerPrefix, skus });
  }
}

/** Which workflow a workflow scenario runs, where (`worker` polls `taskQueue`, as `workerName` in `stack.pids()`). */
export interface WorkflowScenario {
  name: string;
  workflowType: string;
  taskQueue: string;
  worker: StackProcess;
  workerName: string;
  /** SKU of each operation's one line. */
  sku: () => string;
}

/** One round of a workflow scenario (`minimal`, `floor`): each operation starts a workflow like an order, awaits it. */
export async function runWorkflowScenario(options: BenchOptions, scenario: WorkflowScenario): Promise<ScenarioResult> {
  const { name } = scenario;
  const config = loadConfigOrExit();
  const { concurrency } = options.settings;
  const { client } = await options.stack.temporal();
  const run = randomUUID().slice(0, 8);

  const operation: Operation = async (i) => {
    const orderId = randomUUID();
    const customerId = `bench-${name}-${run}-${i % concurrency}`;
    const lines = [{ sku: scenario.sku(), quantity: 1 }];
    const requestHash = requestHashOf({ lines, paymentToken: 'tok_ok' });
    const input = workflowInput(config, { orderId, customerId, lines, paymentToken: 'tok_ok', requestHash });
    const workflowId = `${name}-${orderId}`;
    const startWorkflowOperation = orderStartOperation(input, {
      taskQueue: scenario.taskQueue,
      workflowType: scenario.workflowType,
      workflowId,
    });
    const t0 = performance.now();
    const outcome = await client.workflow.executeUpdateWithStart(reservationUpdate, {
      args: [{ requestHash }],
      updateId: `reservation-${requestHash}`,
      startWorkflowOperation,
    });
    const accepted = performance.now();
    if (outcome.status !== 'RESERVED') throw new Error(`${name} workflow ${orderId}: reservation ${outcome.status}`);
    const result = (await (await startWorkflowOperation.workflowHandle()).result()) as { status: string };
    if (result.status !== 'COMPLETED') throw new Error(`${name} workflow ${orderId} ended ${result.status}`);
    return { acceptedMs: accepted - t0, completedMs: performance.now() - t0, workflowId };
  };

  const { report } = await measureLoad(options, {
    name,
    unit: 'workflows',
    operation,
    processes: { [scenario.workerName]: scenario.worker },
  });
  return { scenario: name, figures: loadFigures(report), load: report };
}

/** The ratio goals between load scenarios of one run, `of >= bound x to`, each bound written once. */
export const RATIO_GOALS = {
  spreadMinimal: { of: 'spread', bound: 0.5, to: 'minimal' },
  spreadFloor: { of: 'spread', bound: 0.8, to: 'floor' },
  hotSpread: { of: 'hot', bound: 0.9, to: 'spread' },
} as const;
type RatioGoal = (typeof RATIO_GOALS)[keyof typeof RATIO_GOALS];

/** The rate of `of` over the rate of `to` in `results`, the first result of each; undefined unless both ran. */
export function ratioOf({ of, to }: RatioGoal, results: readonly ScenarioResult[]): number | undefined {
  const [a, b] = [of, to].map((name) => results.find((result) => result.scenario === name)?.load);
  return a === undefined || b === undefined ? undefined : rate(a) / rate(b);
}

/** `goal` (text: `<of> >= bound x <to> <unit>`) checked once every round ran; `met` adds conditions of its own. */
export function ratioGoal(
  goal: RatioGoal,
  unit: string,
  met: (self: ScenarioResult) => boolean = () => true,
): (self: ScenarioResult, all: readonly ScenarioResult[]) => GoalCheck {
  const { of, bound, to } = goal;
  return (self, all) => {
    const ratio = ratioOf(goal, [self, ...all]);
    return {
      goal: `${of} >= ${bound} x ${to} ${unit}`,
      ...(ratio === undefined ? {} : { goalMet: ratio >= bound && met(self) }),
      figures: {
        [`ratio ${of}/${to}`]: ratio === undefined ? `${self.scenario === of ? to : of} not run` : round(ratio),
      },
    };
  };
}
