/**
 * Real orders spread over 1,000 SKUs (created by the bench with ample stock), `tok_ok`, `PAYMENT_LATENCY_MS=0`,
 * through the API process at a fixed concurrency: each client loop POSTs /orders, then waits for the order's
 * COMPLETED event on an admin Socket.IO client of the relay. Goal, in the same run: spread orders/s >= 0.8 x floor
 * workflows/s, invariants hold.
 *
 * Then the knee: open-loop arrivals at increasing offered rates (fractions of the closed-loop throughput just
 * measured); the knee is the offered rate at which p99 (POST -> COMPLETED) reaches twice its low-load p99 (the first
 * step), interpolated between the two steps around it. `--no-knee` skips it.
 */
import type { BenchOptions, ScenarioResult } from '../main';
import { flagArg, numberArg } from '../support/args';
import { DEFAULT_CONCURRENCY, runOrderScenario, type OpenPlace } from '../support/order-scenario';
import { loadFigures, type KneeStep, type LoadReport } from '../support/report';
import { percentile, round } from '../support/stats';

const GOAL_RATIO = 0.8;
const SKUS = 1000;

/** Offered rates of the ramp as fractions of the closed-loop throughput. */
const RAMP = { quick: [0.25, 0.75, 1.1], full: [0.2, 0.4, 0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.4] };

/** Ramps the offered rate until p99 doubles; returns every step and the interpolated knee (null: not reached). */
async function findKnee(
  place: OpenPlace,
  closedLoopRate: number,
  quick: boolean,
  maxInFlight: number,
  log: (line: string) => void,
): Promise<NonNullable<LoadReport['knee']>> {
  const stepMs = quick ? 3000 : 10_000;
  const steps: KneeStep[] = [];
  let kneeRate: number | null = null;
  for (const fraction of quick ? RAMP.quick : RAMP.full) {
    const rate = round(Math.max(1, fraction * closedLoopRate), 1);
    const phase = await place.run(`knee ${rate}/s`, rate, stepMs, maxInFlight);
    const done = [...phase.done].sort((a, b) => a - b);
    const step: KneeStep = {
      offeredRate: rate,
      achievedRate: round(phase.throughput, 1),
      p50: round(percentile(done, 50)),
      p99: round(percentile(done, 99)),
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
  return { steps, lowLoadP99: steps[0]?.p99 ?? Number.NaN, kneeRate };
}

/** Runs the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const concurrency = numberArg(options.args, 'concurrency', DEFAULT_CONCURRENCY);
  let knee: LoadReport['knee'];
  let closedRate = 0;
  const outcome = await runOrderScenario(
    'spread',
    options,
    SKUS,
    flagArg(options.args, 'no-knee')
      ? undefined
      : async (place) => {
          knee = await findKnee(place, closedRate, options.quick, concurrency * 20, options.log);
        },
    (phase) => {
      closedRate = phase.throughput;
    },
  );
  const report: LoadReport = { ...outcome.report, ...(knee === undefined ? {} : { knee }) };
  const floor = options.results.find((result) => result.scenario === 'floor')?.load;
  const ratio = floor === undefined ? undefined : report.throughput / floor.throughput;
  const figures: Record<string, number | string> = {
    ...loadFigures(report),
    'ratio spread/floor': ratio === undefined ? 'floor not run' : round(ratio),
    'deadlocks (pg_stat_database delta)': outcome.deadlocks,
    'orders by status': JSON.stringify(outcome.statuses),
  };
  if (knee !== undefined) {
    figures['low-load p99 ms (knee ramp step 1)'] = knee.lowLoadP99;
    figures['knee: offered orders/s where p99 doubles'] =
      knee.kneeRate ?? `> ${knee.steps.at(-1)?.offeredRate ?? 0} (not reached)`;
  }
  return {
    scenario: 'spread',
    figures,
    goal: `spread >= ${GOAL_RATIO} x floor workflows/s`,
    ...(ratio === undefined ? {} : { goalMet: ratio >= GOAL_RATIO }),
    load: report,
    violations: outcome.violations,
  };
}
