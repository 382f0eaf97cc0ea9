/**
 * Real orders, every one on the same SKU: each reservation queues on that product's row lock. Otherwise exactly
 * `spread` (API, worker and relay processes, fixed concurrency, POST -> COMPLETED seen on Socket.IO). Goal, in the
 * same run: hot >= 0.9 x spread orders/s, no deadlock (pg_stat_database), no negative stock, invariants hold.
 */
import type { BenchOptions, ScenarioResult } from '../main';
import { runOrderScenario } from '../support/order-scenario';
import { loadFigures } from '../support/report';
import { round } from '../support/stats';

const GOAL_RATIO = 0.9;

/** Runs the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const outcome = await runOrderScenario('hot', options, 1);
  const { report } = outcome;
  const spread = options.results.find((result) => result.scenario === 'spread')?.load;
  const ratio = spread === undefined ? undefined : report.throughput / spread.throughput;
  const negative = outcome.violations.some((line) => line.startsWith('stock_non_negative'));
  return {
    scenario: 'hot',
    figures: {
      ...loadFigures(report),
      'ratio hot/spread': ratio === undefined ? 'spread not run' : round(ratio),
      'deadlocks (pg_stat_database delta)': outcome.deadlocks,
      'orders by status': JSON.stringify(outcome.statuses),
    },
    goal: `hot >= ${GOAL_RATIO} x spread orders/s, 0 deadlocks, no negative stock`,
    ...(ratio === undefined ? {} : { goalMet: ratio >= GOAL_RATIO && outcome.deadlocks === 0 && !negative }),
    load: report,
    violations: outcome.violations,
  };
}
