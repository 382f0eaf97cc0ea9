/**
 * The faults of a chaos run: a schedule spread over the load phase (seeded), and their injection into the stack.
 * Process and service faults run one after another on one timeline; the payment gateway outage runs on its own
 * timeline, so it overlaps them. Every injected fault is recorded with when it started and ended: those are the
 * planned outage windows a 5xx answer is judged against.
 */
import { OUTAGE_SWITCH, setGatewaySwitch } from '../activities/payments';
import type { FaultCounts, Random } from './options';
import type { ChaosStack } from './stack';

/** Kinds of fault the run injects. */
export type FaultKind =
  'worker_kill' | 'relay_restart' | 'redis_restart' | 'temporal_restart' | 'postgres_terminate' | 'gateway_outage';

/** Labels of the fault kinds in the summary. */
export const FAULT_LABELS: Record<FaultKind, string> = {
  worker_kill: 'worker SIGKILL + restart',
  relay_restart: 'relay restart',
  redis_restart: 'Redis restart (empty)',
  temporal_restart: 'Temporal dev server restart',
  postgres_terminate: 'PostgreSQL sessions terminated',
  gateway_outage: 'payment gateway outage',
};

/** Which API answers a fault may turn into a 503, and for how long after it ended. */
export interface OutageExcuse {
  /** Requests (`<METHOD> <route>`, ids as `:id`) the fault stands between the API and an answer for. */
  requests: readonly string[];
  /** How long after the fault a request that began during it may still fail. */
  graceMs: number;
}

/**
 * The planned outages: what each fault may excuse. Temporal down: order writes wait out the API's Temporal deadline
 * (15 s) plus its Retry-After (5 s). A killed worker: a new order's reservation (update-with-start) waits for a
 * worker, at worst past that deadline. PostgreSQL sessions cut: any request reading the database, at once. Relay and
 * Redis restarts and the gateway outage excuse nothing: the API must not notice them (rate limits fail open, payments
 * go NEEDS_ATTENTION).
 */
export const OUTAGE_EXCUSES: Partial<Record<FaultKind, OutageExcuse>> = {
  temporal_restart: { requests: ['POST /orders', 'POST /orders/:id/cancel'], graceMs: 20_000 },
  worker_kill: { requests: ['POST /orders'], graceMs: 20_000 },
  postgres_terminate: {
    requests: ['POST /orders', 'POST /orders/:id/cancel', 'GET /orders/:id', 'GET /orders', 'GET /products'],
    graceMs: 5_000,
  },
};

/** One fault the schedule asks for, `atMs` after the load started. */
export interface PlannedFault {
  kind: FaultKind;
  atMs: number;
  /** Gateway outage length. */
  durationMs?: number;
}

/** One fault as it happened. */
export interface FaultRecord {
  kind: FaultKind;
  detail: string;
  start: number;
  end: number;
  /** Set when the injection itself failed (the run goes on; the summary says so). */
  error?: string;
}

/** Spreads each kind's count evenly over 10%..85% of the load phase, with jitter. */
export function planFaults(counts: FaultCounts, loadMs: number, random: Random): PlannedFault[] {
  const plan: PlannedFault[] = [];
  const spread = (kind: FaultKind, count: number, from: number, to: number, extra: Partial<PlannedFault> = {}) => {
    for (let i = 0; i < count; i += 1) {
      const slot = (to - from) / count;
      const at = from + slot * i + slot * (0.25 + random.next() * 0.5);
      plan.push({ kind, atMs: Math.round(at * loadMs), ...extra });
    }
  };
  spread('worker_kill', counts.workerKills, 0.1, 0.85);
  spread('relay_restart', counts.relayRestarts, 0.15, 0.8);
  spread('redis_restart', counts.redisRestarts, 0.2, 0.75);
  spread('temporal_restart', counts.temporalRestarts, 0.4, 0.65);
  spread('postgres_terminate', counts.postgresTerminations, 0.1, 0.85);
  spread('gateway_outage', counts.gatewayOutages, 0.15, 0.7, {
    durationMs: Math.max(4000, Math.round((0.5 * loadMs) / Math.max(1, counts.gatewayOutages) / 2)),
  });
  return plan.sort((a, b) => a.atMs - b.atMs);
}

/** What the injector needs. */
export interface FaultContext {
  stack: ChaosStack;
  random: Random;
  /** When the load started (ms since epoch); `atMs` is relative to it. */
  startedAt: number;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Appended to as faults happen. */
  records: FaultRecord[];
}

function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  const ms = at - Date.now();
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sets the gateway's outage switch, retrying for a while (the harness's own database sessions are never killed). */
async function setOutage(stack: ChaosStack, on: boolean): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await setGatewaySwitch(stack.db, OUTAGE_SWITCH, on);
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(250);
    }
  }
}

/** Injects one fault; returns what happened. */
async function inject(fault: PlannedFault, ctx: FaultContext, counter: Map<FaultKind, number>): Promise<FaultRecord> {
  const { stack, random } = ctx;
  const nth = (counter.get(fault.kind) ?? 0) + 1;
  counter.set(fault.kind, nth);
  const start = Date.now();
  let detail: string;
  try {
    switch (fault.kind) {
      case 'worker_kill': {
        const index = random.int(0, stack.workerCount - 1);
        await stack.killWorker(index);
        detail = `worker-${index + 1} SIGKILLed, back polling after ${Date.now() - start} ms`;
        break;
      }
      case 'relay_restart': {
        const signal: NodeJS.Signals = nth % 2 === 1 ? 'SIGKILL' : 'SIGTERM';
        await stack.restartRelay(signal);
        detail = `relay ${signal}, back reading after ${Date.now() - start} ms`;
        break;
      }
      case 'redis_restart':
        await stack.restartRedis(1000);
        detail = `redis-server stopped, restarted empty after ${Date.now() - start} ms`;
        break;
      case 'temporal_restart':
        await stack.restartTemporal(1000);
        detail = `dev server stopped, answering again on the same db file after ${Date.now() - start} ms`;
        break;
      case 'postgres_terminate': {
        // A burst, so sessions reopened in between are cut again: 2 s without a stable connection.
        let terminated = 0;
        for (let round = 0; round < 8; round += 1) {
          terminated += await stack.terminatePostgresSessions();
          await sleep(250);
        }
        detail = `${terminated} sessions terminated over ${Date.now() - start} ms`;
        break;
      }
      case 'gateway_outage': {
        const durationMs = fault.durationMs ?? 5000;
        await setOutage(stack, true);
        await sleepUntil(start + durationMs, ctx.signal);
        await setOutage(stack, false);
        detail = `gateway_switches.outage on for ${Date.now() - start} ms`;
        break;
      }
    }
    return { kind: fault.kind, detail, start, end: Date.now() };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { kind: fault.kind, detail: 'injection failed', start, end: Date.now(), error: message };
  }
}

/**
 * Runs the schedule: process and service faults in order on one timeline, gateway outages on another. Resolves once
 * every fault is done or the run is aborted; the gateway switch is always left off.
 */
export async function runFaults(plan: readonly PlannedFault[], ctx: FaultContext): Promise<void> {
  const counter = new Map<FaultKind, number>();
  const timeline = async (faults: readonly PlannedFault[]): Promise<void> => {
    for (const fault of faults) {
      await sleepUntil(ctx.startedAt + fault.atMs, ctx.signal);
      if (ctx.signal.aborted) return;
      const record = await inject(fault, ctx, counter);
      ctx.records.push(record);
      ctx.log(
        `chaos: fault ${FAULT_LABELS[record.kind]}: ${record.error === undefined ? record.detail : `FAILED: ${record.error}`}`,
      );
    }
  };
  try {
    await Promise.all([
      timeline(plan.filter((fault) => fault.kind !== 'gateway_outage')),
      timeline(plan.filter((fault) => fault.kind === 'gateway_outage')),
    ]);
  } finally {
    await setOutage(ctx.stack, false).catch(() => undefined);
  }
}
