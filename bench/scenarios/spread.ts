/**
 * Real orders over 1,000 SKUs (ample stock, `tok_ok`, `PAYMENT_LATENCY_MS=0`) through the API process at a fixed
 * concurrency, each awaited as its COMPLETED event on the relay. Goal, in the same run: spread orders/s >= 0.8 x floor
 * workflows/s, invariants hold. Then the knee (not `--no-knee`, not `--quick`: a ramp needs longer steps): open-loop
 * arrivals at rising fractions of the closed-loop rate; the knee is the offered rate at which p99 (POST -> COMPLETED)
 * reaches twice the first step's, interpolated between the two steps around it.
 */
import type { BenchOptions, GoalCheck, ScenarioResult } from '../contract';
import type { PhaseResult } from '../support/load';
import { LOW_LOAD_FRACTION, stackCpuMsPerOp, type KneeStep, type LowLoadReport } from '../support/report';
import { RATIO_GOALS, ratioGoal, runOrderScenario, type OpenLoopRunner } from '../support/scenario';
import { round, summarize } from '../support/stats';

const SKUS = 1000;

/** Length of the low-load step when no knee ramp runs (`--low-load`, `--compare`), full and quick. */
const LOW_LOAD_STEP_MS = { full: 12_000, quick: 6000 };

/** Offered rates of the ramp as fractions of the closed-loop throughput; the first is the low-load step. */
const RAMP = [LOW_LOAD_FRACTION, 0.4, 0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.4];

/** The low-load figures of an open-loop step. */
function lowLoadOf(offeredRate: number, phase: PhaseResult): LowLoadReport {
  const [accepted, done] = [summarize(phase.accepted), summarize(phase.done)];
  return { offeredRate, count: done.count, acceptedP50: accepted.p50, doneP50: done.p50 };
}

/** Ramps the offered rate until p99 doubles: every step, the interpolated knee, the first step's low-load figures. */
async function findKnee(
  open: OpenLoopRunner,
  closedLoopRate: number,
  maxInFlight: number,
  log: (line: string) => void,
) {
  let lowLoad: LowLoadReport | undefined;
  const steps: KneeStep[] = [];
  let kneeRate: number | null = null;
  for (const fraction of RAMP) {
    const rate = round(Math.max(1, fraction * closedLoopRate), 1);
    // Long enough for a p99 worth the name at low rates (about 60 orders), within 10-30 s.
    const stepMs = Math.min(30_000, Math.max(10_000, (60 / rate) * 1000));
    const phase = await open(`knee ${rate}/s`, rate, stepMs, maxInFlight);
    const done = summarize(phase.done);
    lowLoad ??= lowLoadOf(rate, phase);
    const step: KneeStep = {
      offeredRate: rate,
      achievedRate: round(phase.throughput, 1),
      p50: done.p50,
      p99: done.p99,
      acceptedP50: summarize(phase.accepted).p50,
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
  return { knee: { steps, lowLoadP99: steps[0]?.p99 ?? Number.NaN, kneeRate }, ...(lowLoad ? { lowLoad } : {}) };
}

/** Runs one round; the knee ramp in the last only, `--low-load` (set by `--compare`): its first step in the others. */
export function run(options: BenchOptions): Promise<ScenarioResult> {
  const { settings, quick, log } = options;
  const maxInFlight = settings.concurrency * 20;
  const lastRound = options.round.index === options.round.count - 1;
  if (settings.knee && !quick && lastRound) {
    return runOrderScenario('spread', options, SKUS, (open, closed) =>
      findKnee(open, closed.throughput, maxInFlight, log),
    );
  }
  if (!settings.lowLoad) return runOrderScenario('spread', options, SKUS);
  return runOrderScenario('spread', options, SKUS, async (open, closed) => {
    const rate = round(Math.max(1, LOW_LOAD_FRACTION * closed.throughput), 1);
    const stepMs = quick ? LOW_LOAD_STEP_MS.quick : LOW_LOAD_STEP_MS.full;
    const lowLoad = lowLoadOf(rate, await open(`low load ${rate}/s`, rate, stepMs, maxInFlight));
    log(`   low load: offered ${rate}/s -> accept p50 ${lowLoad.acceptedP50} ms, done p50 ${lowLoad.doneP50} ms`);
    return { lowLoad };
  });
}

const floorRatio = ratioGoal(RATIO_GOALS.spreadFloor, 'workflows/s');

/** The goal, once every round of every scenario ran; and what the ratio would be on a machine of our own. */
export function goal(self: ScenarioResult, all: readonly ScenarioResult[]): GoalCheck {
  const check = floorRatio(self, all);
  const floor = all.find((result) => result.scenario === 'floor')?.load;
  const [cpu, floorCpu] = [self.load, floor].map((load) => (load === undefined ? undefined : stackCpuMsPerOp(load)));
  return {
    ...check,
    // The floor's CPU per workflow over ours per order.
    figures: {
      ...check.figures,
      'ratio of CPU cost floor/spread': cpu === undefined || floorCpu === undefined ? '-' : round(floorCpu / cpu),
    },
  };
}
