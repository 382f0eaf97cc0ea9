/**
 * Load drivers. Closed loop: N clients, each starting its next operation when the previous one ended (throughput at
 * a fixed concurrency). Open loop: arrivals on a fixed schedule at a given rate whatever the system does (latency at
 * an offered rate, for the knee). Both report throughput over the measured window and the latency samples of the
 * operations started in it, with a live status line.
 */
import { performance } from 'node:perf_hooks';
import { startProgress, type PhaseCounters } from './progress';

/** When an operation was accepted (e.g. POST answered) and completed (e.g. COMPLETED seen), in ms from its start. */
export interface OperationTiming {
  acceptedMs: number;
  completedMs: number;
  /** The operation's workflow, for the history counts (support/history.ts). */
  workflowId?: string;
}

/** One operation of a phase; `index` counts operations of the phase from 0. */
export type Operation = (index: number) => Promise<OperationTiming>;

/** What a phase measured. */
export interface PhaseResult {
  /** Length of the measured window in seconds. */
  seconds: number;
  /** Operations that completed inside the window. */
  completed: number;
  /** Operations that completed at all (warm-up and the tail after the window included): what the CPU was spent on. */
  allCompleted: number;
  /** `completed / seconds`. */
  throughput: number;
  /** Failed operations (whole phase, warm-up included). */
  errors: number;
  /** Latency samples (ms) of operations started inside the window. */
  accepted: number[];
  done: number[];
  /** The first few error messages. */
  errorSamples: string[];
  /** Open loop only: arrivals dropped because `maxInFlight` operations were already running. */
  dropped: number;
  /** Workflow ids of the completed operations that reported one, in completion order. */
  workflowIds: string[];
}

/** Common options of the drivers. */
export interface PhaseOptions {
  label: string;
  operation: Operation;
  log: (line: string) => void;
  /** Stops the phase early (the run is aborted: the caller then throws). */
  signal: AbortSignal;
}

const ERROR_SAMPLES = 5;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function collector(): {
  counters: PhaseCounters;
  result: Omit<PhaseResult, 'seconds' | 'throughput'>;
  fail: (error: unknown) => void;
} {
  const counters: PhaseCounters = { completed: 0, errors: 0, inFlight: 0 };
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
  const fail = (error: unknown): void => {
    counters.errors += 1;
    result.errors += 1;
    if (result.errorSamples.length < ERROR_SAMPLES) {
      result.errorSamples.push(error instanceof Error ? error.message : String(error));
    }
  };
  return { counters, result, fail };
}

/**
 * `concurrency` loops for `warmupMs + durationMs`, starting over the first half of the warm-up; only the last
 * `durationMs` are measured. Loops finish the operation they are in before the phase ends, so the stack is quiet again
 * when it returns.
 */
export async function closedLoop(
  options: PhaseOptions & {
    concurrency: number;
    warmupMs: number;
    durationMs: number;
  },
): Promise<PhaseResult> {
  const { counters, result, fail } = collector();
  const progress = startProgress(options.label, counters, options.log);
  const start = performance.now();
  const from = start + options.warmupMs;
  const end = from + options.durationMs;
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: options.concurrency }, async (_, loop) => {
        // Loops start spread over the warm-up, so completions do not come in waves of `concurrency` at once.
        await sleep((loop * options.warmupMs) / options.concurrency / 2);
        while (performance.now() < end && !options.signal.aborted) {
          const t0 = performance.now();
          counters.inFlight += 1;
          try {
            const timing = await options.operation(next++);
            const t1 = performance.now();
            counters.completed += 1;
            result.allCompleted += 1;
            if (timing.workflowId !== undefined) result.workflowIds.push(timing.workflowId);
            if (t1 >= from && t1 <= end) result.completed += 1;
            if (t0 >= from) {
              result.accepted.push(timing.acceptedMs);
              result.done.push(timing.completedMs);
            }
          } catch (error) {
            fail(error);
            await sleep(100); // an error loop must not spin
          } finally {
            counters.inFlight -= 1;
          }
        }
      }),
    );
  } finally {
    progress.stop();
  }
  const seconds = options.durationMs / 1000;
  return { ...result, seconds, throughput: result.completed / seconds };
}

/**
 * Arrivals every `1000 / rate` ms for `durationMs`, each started whether or not earlier ones finished (up to
 * `maxInFlight`; beyond that an arrival is dropped and counted). Waits for the started operations to end.
 */
export async function openLoop(
  options: PhaseOptions & { rate: number; durationMs: number; maxInFlight: number },
): Promise<PhaseResult> {
  const { counters, result, fail } = collector();
  const progress = startProgress(options.label, counters, options.log);
  const start = performance.now();
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const running: Promise<void>[] = [];
  let lastCompletion = start;
  try {
    for (let i = 0; i < total && !options.signal.aborted; i += 1) {
      const due = start + (i * 1000) / options.rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      if (counters.inFlight >= options.maxInFlight) {
        result.dropped += 1;
        continue;
      }
      counters.inFlight += 1;
      running.push(
        options.operation(i).then(
          (timing) => {
            counters.inFlight -= 1;
            counters.completed += 1;
            result.completed += 1;
            result.allCompleted += 1;
            if (timing.workflowId !== undefined) result.workflowIds.push(timing.workflowId);
            lastCompletion = performance.now();
            result.accepted.push(timing.acceptedMs);
            result.done.push(timing.completedMs);
          },
          (error: unknown) => {
            counters.inFlight -= 1;
            fail(error);
          },
        ),
      );
    }
    await Promise.all(running);
  } finally {
    progress.stop();
  }
  const seconds = Math.max(options.durationMs, lastCompletion - start) / 1000;
  return { ...result, seconds, throughput: result.completed / seconds };
}
