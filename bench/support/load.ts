/**
 * Load drivers of the bench and the chaos run. `paced`: arrivals on a fixed schedule whatever the system does.
 * Closed loop: N clients, each starting its next operation when its last one ended (throughput at a fixed
 * concurrency). Open loop: `paced` arrivals at an offered rate (latency at that rate, for the knee).
 */
import { performance } from 'node:perf_hooks';
import { messageOf } from '../../lib/error-text';
import { sleep } from '../../lib/sleep';

/** When an operation was accepted (e.g. POST answered) and completed (e.g. COMPLETED seen), in ms from its start. */
export interface OperationTiming {
  acceptedMs: number;
  completedMs: number;
  /** For the history counts (support/history.ts). */
  workflowId?: string;
}

/** One operation of a phase; `index` counts operations of the phase from 0. */
export type Operation = (index: number) => Promise<OperationTiming>;

/**
 * What a phase measured: `completed` inside the measured window of `seconds`, `allCompleted` at all (warm-up and tail
 * included: what the CPU was spent on), latency samples (ms) of operations started inside the window, `errors` of the
 * whole phase, arrivals `dropped` by an open loop, the workflow ids of completed operations in completion order.
 */
export interface PhaseResult {
  seconds: number;
  completed: number;
  allCompleted: number;
  throughput: number;
  errors: number;
  accepted: number[];
  done: number[];
  errorSamples: string[];
  dropped: number;
  workflowIds: string[];
}

/** Options of both loops; `signal` stops the phase early (the run is aborted: the caller then throws). */
export interface PhaseOptions {
  label: string;
  operation: Operation;
  log: (line: string) => void;
  signal: AbortSignal;
}

/**
 * What `paced` does: `count` arrivals at `rate`/s (Infinity: as fast as `whenFull` lets them), none after `deadline`
 * (epoch ms); one that finds `maxInFlight` running is dropped (and counted), or started once one ends (`wait`).
 */
export interface PacedOptions {
  count: number;
  rate: number;
  maxInFlight: number;
  whenFull: 'drop' | 'wait';
  signal: AbortSignal;
  deadline?: number;
}

const ERROR_SAMPLES = 5;

/**
 * Starts `operation(0)`, `operation(1)`, ... at `rate` per second until `count`, the deadline or the signal. Once
 * every started operation has settled, resolves with the arrivals dropped, or rejects with the first failure.
 */
export async function paced(options: PacedOptions, operation: (index: number) => Promise<void>): Promise<number> {
  const start = performance.now();
  const running = new Set<Promise<void>>();
  let dropped = 0;
  let failure: { error: unknown } | undefined;
  for (let i = 0; i < options.count && !options.signal.aborted; i += 1) {
    const wait = start + (i * 1000) / options.rate - performance.now();
    if (wait > 1) await sleep(wait);
    while (options.whenFull === 'wait' && running.size >= options.maxInFlight) await Promise.race(running);
    if (options.signal.aborted || Date.now() > (options.deadline ?? Infinity)) break;
    if (running.size >= options.maxInFlight) {
      dropped += 1;
      continue;
    }
    const task = operation(i)
      .catch((error: unknown) => void (failure ??= { error }))
      .finally(() => running.delete(task));
    running.add(task);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure.error;
  return dropped;
}

/** Calls `fn(0)` ... `fn(count - 1)`, `concurrency` at a time (each once another ended); their latencies in ms. */
export async function timedCalls(
  count: number,
  concurrency: number,
  fn: (index: number) => Promise<void>,
  signal: AbortSignal,
): Promise<number[]> {
  const latencies: number[] = [];
  await paced({ count, rate: Infinity, maxInFlight: concurrency, whenFull: 'wait', signal }, async (i) => {
    const started = performance.now();
    await fn(i);
    latencies.push(performance.now() - started);
  });
  return latencies;
}

/** A phase's tallies, its status line (once a second to `log`) and its samples. */
function tally(label: string, log: (line: string) => void) {
  const result = {
    completed: 0,
    allCompleted: 0,
    errors: 0,
    accepted: [] as number[],
    done: [] as number[],
    errorSamples: [] as string[],
    dropped: 0,
    workflowIds: [] as string[],
  };
  let inFlight = 0;
  const started = Date.now();
  let [lastCompleted, lastAt] = [0, started];
  const timer = setInterval(() => {
    const now = Date.now();
    const rate = ((result.allCompleted - lastCompleted) * 1000) / Math.max(1, now - lastAt);
    [lastCompleted, lastAt] = [result.allCompleted, now];
    log(
      `   [${label}] ${String(Math.round((now - started) / 1000)).padStart(3)}s  completed/s ${rate.toFixed(1).padStart(6)}` +
        `  in flight ${String(inFlight).padStart(4)}  errors ${result.errors}  total ${result.allCompleted}`,
    );
  }, 1000);
  return {
    result,
    /** Runs one operation; true when it completed. `sample` decides whether its latencies count. */
    async run(operation: Operation, index: number, sample: (timing: OperationTiming) => boolean): Promise<boolean> {
      inFlight += 1;
      try {
        const timing = await operation(index);
        result.allCompleted += 1;
        if (timing.workflowId !== undefined) result.workflowIds.push(timing.workflowId);
        if (sample(timing)) {
          result.accepted.push(timing.acceptedMs);
          result.done.push(timing.completedMs);
        }
        return true;
      } catch (error) {
        result.errors += 1;
        if (result.errorSamples.length < ERROR_SAMPLES) result.errorSamples.push(messageOf(error));
        return false;
      } finally {
        inFlight -= 1;
      }
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * `concurrency` loops for `warmupMs + durationMs`; only the last `durationMs` are measured. Loops finish the
 * operation they are in, so the stack is quiet again when it returns.
 */
export async function closedLoop(
  options: PhaseOptions & { concurrency: number; warmupMs: number; durationMs: number },
): Promise<PhaseResult> {
  const phase = tally(options.label, options.log);
  const from = performance.now() + options.warmupMs;
  const end = from + options.durationMs;
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: options.concurrency }, async (_, loop) => {
        // Loops start spread over the first half of the warm-up, so completions do not come in waves.
        await sleep((loop * options.warmupMs) / options.concurrency / 2);
        while (performance.now() < end && !options.signal.aborted) {
          const t0 = performance.now();
          const ok = await phase.run(options.operation, next++, () => t0 >= from);
          const t1 = performance.now();
          if (ok && t1 >= from && t1 <= end) phase.result.completed += 1;
          if (!ok) await sleep(100); // an error loop must not spin
        }
      }),
    );
  } finally {
    phase.stop();
  }
  const seconds = options.durationMs / 1000;
  return { ...phase.result, seconds, throughput: phase.result.completed / seconds };
}

/** `paced` arrivals at `rate`/s for `durationMs` (beyond `maxInFlight` dropped); waits for the started ones. */
export async function openLoop(
  options: PhaseOptions & { rate: number; durationMs: number; maxInFlight: number },
): Promise<PhaseResult> {
  const phase = tally(options.label, options.log);
  const start = performance.now();
  let lastCompletion = start;
  try {
    const count = Math.round((options.rate * options.durationMs) / 1000);
    phase.result.dropped = await paced({ ...options, count, whenFull: 'drop' }, async (i) => {
      if (await phase.run(options.operation, i, () => true)) {
        phase.result.completed += 1;
        lastCompletion = performance.now();
      }
    });
  } finally {
    phase.stop();
  }
  const seconds = Math.max(options.durationMs, lastCompletion - start) / 1000;
  return { ...phase.result, seconds, throughput: phase.result.completed / seconds };
}
