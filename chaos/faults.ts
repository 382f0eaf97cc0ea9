/**
 * The faults of a chaos run: a seeded schedule over the load phase, and their injection. The gateway outage runs on a
 * timeline of its own, so it overlaps the others; each fault's recorded window is what a 5xx is judged against.
 */
import { OUTAGE_SWITCH, setGatewaySwitch } from '../activities/payments';
import { messageOf } from '../lib/error-text';
import { pause, sleep } from '../lib/sleep';
import type { Random } from './options';
import type { ChaosStack } from './stack';

/** Kinds of fault the run injects. */
export type FaultKind =
  'worker_kill' | 'relay_restart' | 'redis_restart' | 'temporal_restart' | 'postgres_terminate' | 'gateway_outage';

/** One fault the schedule asks for, `atMs` after the load started (`durationMs`: a gateway outage's length). */
export type PlannedFault = { kind: FaultKind; atMs: number; durationMs?: number };

/** One fault as it happened; `error` when the injection itself failed (the run goes on). */
export type FaultRecord = { kind: FaultKind; detail: string; start: number; end: number; error?: string };

/** What the injector needs; `faults` is appended to as faults happen. */
export interface FaultContext {
  stack: ChaosStack;
  random: Random;
  /** When the load started (ms since epoch): `atMs` counts from it. */
  startedAt: number;
  signal: AbortSignal;
  log: (line: string) => void;
  faults: FaultRecord[];
}

/** A fault kind: its summary label, how many and when the schedule injects it, what it excuses, how it is injected. */
export interface FaultSpec {
  label: string;
  /** Injections in a `--quick` and in a full run. */
  count: { quick: number; full: number };
  /** The share of the load phase its injections are spread over. */
  window: readonly [from: number, to: number];
  /** Requests (`<METHOD> <route>`) it may fail with a 503, until `graceMs` after it; none: the API must not notice. */
  excuse?: { requests: readonly string[]; graceMs: number };
  durationMs?: (loadMs: number, count: number) => number;
  /** Injects the `nth` fault of its kind (from 1); resolves with what happened, which the time it took ends. */
  inject(ctx: FaultContext, fault: PlannedFault, nth: number): Promise<string>;
}

/** The gateway outage switch, retried while PostgreSQL sessions are being cut. */
async function setOutage(stack: ChaosStack, on: boolean): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await setGatewaySwitch(stack.db, OUTAGE_SWITCH, on);
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(250);
    }
  }
}

/**
 * Every fault kind, in the order the schedule draws them. What each excuses: Temporal down, the order writes for the
 * API's Temporal deadline (15 s) plus its Retry-After (5 s); a killed worker, a new order's reservation
 * (update-with-start), which waits for a worker; cut sessions, any database read, at once. Relay, Redis and gateway
 * faults excuse nothing: rate limits fail open and payments go NEEDS_ATTENTION.
 */
export const FAULTS: Record<FaultKind, FaultSpec> = {
  worker_kill: {
    label: 'worker SIGKILL + restart',
    count: { quick: 2, full: 4 },
    window: [0.1, 0.85],
    excuse: { requests: ['POST /orders'], graceMs: 20_000 },
    async inject({ stack, random }) {
      const name = `worker-${random.int(1, stack.workerCount)}`;
      await stack.restart(name, 'SIGKILL');
      return `${name} SIGKILLed, back polling after`;
    },
  },
  relay_restart: {
    label: 'relay restart',
    count: { quick: 1, full: 2 },
    window: [0.15, 0.8],
    async inject({ stack }, _, nth) {
      const signal: NodeJS.Signals = nth % 2 === 1 ? 'SIGKILL' : 'SIGTERM';
      await stack.restart('relay', signal);
      return `relay ${signal}, back reading after`;
    },
  },
  redis_restart: {
    label: 'Redis restart (empty)',
    count: { quick: 1, full: 2 },
    window: [0.2, 0.75],
    inject: ({ stack }) =>
      stack.restart('redis', 'SIGTERM', 1000).then(() => 'redis-server stopped, restarted empty after'),
  },
  temporal_restart: {
    label: 'Temporal dev server restart',
    count: { quick: 1, full: 1 },
    window: [0.4, 0.65],
    excuse: { requests: ['POST /orders', 'POST /orders/:id/cancel'], graceMs: 20_000 },
    inject: ({ stack }) =>
      stack
        .restart('temporal', 'SIGTERM', 1000)
        .then(() => 'dev server stopped, answering again on the same db file after'),
  },
  postgres_terminate: {
    label: 'PostgreSQL sessions terminated',
    count: { quick: 2, full: 3 },
    window: [0.1, 0.85],
    excuse: {
      requests: ['POST /orders', 'POST /orders/:id/cancel', 'GET /orders/:id', 'GET /orders', 'GET /products'],
      graceMs: 5_000,
    },
    async inject({ stack }) {
      // A burst, so sessions reopened in between are cut again: 2 s without a stable connection.
      let terminated = 0;
      for (let round = 0; round < 8; round += 1) {
        terminated += await stack.terminatePostgresSessions();
        await sleep(250);
      }
      return `${terminated} sessions terminated over`;
    },
  },
  gateway_outage: {
    label: 'payment gateway outage',
    count: { quick: 1, full: 2 },
    window: [0.15, 0.7],
    durationMs: (loadMs, count) => Math.max(4000, Math.round((0.5 * loadMs) / Math.max(1, count) / 2)),
    async inject({ stack, signal }, fault) {
      const start = Date.now();
      await setOutage(stack, true);
      await pause(start + (fault.durationMs ?? 5000) - Date.now(), signal);
      await setOutage(stack, false);
      return 'gateway_switches.outage on for';
    },
  },
};

/** The fault kinds, in `FAULTS` order. */
export const FAULT_KINDS = Object.keys(FAULTS) as FaultKind[];

/** Spreads each kind's count evenly over its window of the load phase, with jitter. */
export function planFaults(quick: boolean, loadMs: number, random: Random): PlannedFault[] {
  const plan: PlannedFault[] = [];
  for (const kind of FAULT_KINDS) {
    const { window, durationMs } = FAULTS[kind];
    const [from, to] = window;
    const count = FAULTS[kind].count[quick ? 'quick' : 'full'];
    const slot = (to - from) / count;
    for (let i = 0; i < count; i += 1) {
      const at = from + slot * i + slot * (0.25 + random.next() * 0.5);
      plan.push({ kind, atMs: Math.round(at * loadMs), durationMs: durationMs?.(loadMs, count) });
    }
  }
  return plan.sort((a, b) => a.atMs - b.atMs);
}

/** Runs the schedule until done or aborted; the gateway switch is always left off. */
export async function runFaults(plan: readonly PlannedFault[], ctx: FaultContext): Promise<void> {
  const counter = new Map<FaultKind, number>();
  const timeline = async (faults: readonly PlannedFault[]): Promise<void> => {
    for (const fault of faults) {
      await pause(ctx.startedAt + fault.atMs - Date.now(), ctx.signal);
      if (ctx.signal.aborted) return;
      const nth = (counter.get(fault.kind) ?? 0) + 1;
      counter.set(fault.kind, nth);
      const start = Date.now();
      const record: FaultRecord = { kind: fault.kind, detail: 'injection failed', start, end: start };
      try {
        record.detail = `${await FAULTS[fault.kind].inject(ctx, fault, nth)} ${Date.now() - start} ms`;
      } catch (error) {
        record.error = messageOf(error);
      }
      record.end = Date.now();
      ctx.faults.push(record);
      const what = record.error === undefined ? record.detail : `FAILED: ${record.error}`;
      ctx.log(`chaos: fault ${FAULTS[record.kind].label}: ${what}`);
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
