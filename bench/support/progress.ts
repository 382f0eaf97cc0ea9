/**
 * The live status line of a load phase: once a second, to stderr, what completed in the last second, how many
 * operations are in flight, and the errors so far.
 */

/** Counters a load phase updates as it goes. */
export interface PhaseCounters {
  completed: number;
  errors: number;
  inFlight: number;
}

/** Prints one status line per second until stopped. */
export function startProgress(label: string, counters: PhaseCounters, log: (line: string) => void): { stop(): void } {
  const started = Date.now();
  let lastCompleted = counters.completed;
  let lastAt = started;
  const timer = setInterval(() => {
    const now = Date.now();
    const rate = ((counters.completed - lastCompleted) * 1000) / Math.max(1, now - lastAt);
    lastCompleted = counters.completed;
    lastAt = now;
    log(
      `   [${label}] ${String(Math.round((now - started) / 1000)).padStart(3)}s  completed/s ${rate.toFixed(1).padStart(6)}` +
        `  in flight ${String(counters.inFlight).padStart(4)}  errors ${counters.errors}  total ${counters.completed}`,
    );
  }, 1000);
  return { stop: () => clearInterval(timer) };
}
