/**
 * Real orders spread over 1,000 SKUs (created by the bench with ample stock), `tok_ok`, `PAYMENT_LATENCY_MS=0`,
 * through the API process at a fixed concurrency: each client loop POSTs /orders, then waits for the order's
 * COMPLETED event on an admin Socket.IO client of the relay. Goal, in the same run: spread orders/s >= 0.8 x floor
 * workflows/s, invariants hold.
 *
 * Then the knee: open-loop arrivals at increasing offered rates (fractions of the closed-loop throughput just
 * measured); the knee is the offered rate at which p99 (POST -> COMPLETED) reaches twice its low-load p99 (the first
 * step), interpolated between the two steps around it. `--no-knee` skips it; so does `--quick` (a ramp needs longer
 * steps than a quick run has).
 */
import type { BenchOptions, GoalCheck, ScenarioResult } from '../main';
import { flagArg, numberArg } from '../support/args';
import { DEFAULT_CONCURRENCY, runOrderScenario, type OpenPlace } from '../support/order-scenario';
import type { PhaseResult } from '../support/load';
import {
  loadFigures,
  LOW_LOAD_FRACTION,
  rate,
  stackCpuMsPerOp,
  type KneeReport,
  type KneeStep,
  type LoadReport,
  type LowLoadReport,
} from '../support/report';
import { percentile, round } from '../support/stats';

const GOAL_RATIO = 0.8;
const SKUS = 1000;

/** Length of the low-load step when no knee ramp runs (`--low-load`, `--compare`), full and quick. */
const LOW_LOAD_STEP_MS = { full: 12_000, quick: 6000 };

/** Offered rates of the ramp as fractions of the closed-loop throughput; the first is the low-load step. */
const RAMP = [LOW_LOAD_FRACTION, 0.4, 0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.4];

/** The low-load figures of an open-loop step. */
function lowLoadOf(offeredRate: number, phase: PhaseResult): LowLoadReport {
  const median = (samples: number[]): number =>
    round(
      percentile(
        [...samples].sort((a, b) => a - b),
        50,
      ),
    );
  return {
    offeredRate,
    count: phase.done.length,
    acceptedP50: median(phase.accepted),
    doneP50: median(phase.done),
  };
}

/**
 * Ramps the offered rate until p99 doubles; returns every step and the interpolated knee (null: not reached), and
 * the low-load figures of the first step.
 */
async function findKnee(
  place: OpenPlace,
  closedLoopRate: number,
  maxInFlight: number,
  log: (line: string) => void,
): Promise<{ knee: KneeReport; lowLoad: LowLoadReport | undefined }> {
  let lowLoad: LowLoadReport | undefined;
  const steps: KneeStep[] = [];
  let kneeRate: number | null = null;
  for (const fraction of RAMP) {
    const rate = round(Math.max(1, fraction * closedLoopRate), 1);
    // Long enough for a p99 worth the name at low rates (about 60 orders), within 10-30 s.
    const stepMs = Math.min(30_000, Math.max(10_000, (60 / rate) * 1000));
    const phase = await place.run(`knee ${rate}/s`, rate, stepMs, maxInFlight);
    const done = [...phase.done].sort((a, b) => a - b);
    lowLoad ??= lowLoadOf(rate, phase);
    const step: KneeStep = {
      offeredRate: rate,
      achievedRate: round(phase.throughput, 1),
      p50: round(percentile(done, 50)),
      p99: round(percentile(done, 99)),
      acceptedP50: round(
        percentile(
          [...phase.accepted].sort((a, b) => a - b),
          50,
        ),
      ),
      errors: phase.errors,
      dropped: phase.dropped,
    };
    steps.push(step);
    log(`   knee: offered ${rate}/s -> p50 ${step.p50} ms, p99 ${step.p99} ms, achieved ${step.achievedRate}/s`);
    const low = steps[0]?.p99 ?? step.p99;
    const previous = steps.at(-2);
    if (previous !== undefined && step.p99 >= 2 * low) {
      // Linear between the last step under 2x and this one.
      const share = (2 * low - previous.p99) / Math.max(1e-9, step.p99 - previous.p99);
      kneeRate = round(
        previous.offeredRate + Math.min(1, Math.max(0, share)) * (step.offeredRate - previous.offeredRate),
        1,
      );
      break;
    }
  }
  return { knee: { steps, lowLoadP99: steps[0]?.p99 ?? Number.NaN, kneeRate }, lowLoad };
}

/**
 * Runs one round of the scenario; the knee ramp runs in the last round only. With `--low-load` (set by `--compare`),
 * every round without the ramp runs its first step on its own: the low-load latency of the round.
 */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const { args, quick, log } = options;
  const concurrency = numberArg(args, 'concurrency', DEFAULT_CONCURRENCY);
  const lastRound = options.round.index === options.round.count - 1;
  const withKnee = !flagArg(args, 'no-knee') && !quick && lastRound;
  let knee: KneeReport | undefined;
  let lowLoad: LowLoadReport | undefined;
  let closedRate = 0;
  const lowLoadStep = async (place: OpenPlace): Promise<void> => {
    const rate = round(Math.max(1, LOW_LOAD_FRACTION * closedRate), 1);
    const phase = await place.run(
      `low load ${rate}/s`,
      rate,
      quick ? LOW_LOAD_STEP_MS.quick : LOW_LOAD_STEP_MS.full,
      concurrency * 20,
    );
    lowLoad = lowLoadOf(rate, phase);
    log(`   low load: offered ${rate}/s -> accept p50 ${lowLoad.acceptedP50} ms, done p50 ${lowLoad.doneP50} ms`);
  };
  const outcome = await runOrderScenario(
    'spread',
    options,
    SKUS,
    withKnee
      ? async (place) => {
          ({ knee, lowLoad } = await findKnee(place, closedRate, concurrency * 20, log));
        }
      : flagArg(args, 'low-load')
        ? lowLoadStep
        : undefined,
    (phase) => {
      closedRate = phase.throughput;
    },
  );
  const report: LoadReport = {
    ...outcome.report,
    ...(knee === undefined ? {} : { knee }),
    ...(lowLoad === undefined ? {} : { lowLoad }),
  };
  return {
    scenario: 'spread',
    figures: loadFigures(report),
    load: report,
    violations: outcome.violations,
    deadlocks: outcome.deadlocks,
    orderStatuses: outcome.statuses,
  };
}

/** The goal, once every round of every scenario ran. */
export function goal(self: ScenarioResult, all: readonly ScenarioResult[]): GoalCheck {
  const floor = all.find((result) => result.scenario === 'floor')?.load;
  const ratio = floor === undefined || self.load === undefined ? undefined : rate(self.load) / rate(floor);
  const cpu = self.load === undefined ? undefined : stackCpuMsPerOp(self.load);
  const floorCpu = floor === undefined ? undefined : stackCpuMsPerOp(floor);
  return {
    goal: `spread >= ${GOAL_RATIO} x floor workflows/s`,
    ...(ratio === undefined ? {} : { goalMet: ratio >= GOAL_RATIO }),
    figures: {
      'ratio spread/floor': ratio === undefined ? 'floor not run' : round(ratio),
      // What the ratio would be if the machine were ours alone: the floor's CPU per workflow over ours per order.
      'ratio of CPU cost floor/spread': cpu === undefined || floorCpu === undefined ? '-' : round(floorCpu / cpu),
    },
  };
}
