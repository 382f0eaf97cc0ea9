/**
 * Real orders, every one on the same SKU: each reservation queues on that product's row lock. Otherwise exactly
 * `spread` (API, worker and relay processes, fixed concurrency, POST -> COMPLETED seen on Socket.IO). Goal, in the
 * same run: hot >= 0.9 x spread orders/s, no deadlock (pg_stat_database), no negative stock, invariants hold.
 */
import type { BenchOptions, GoalCheck, ScenarioResult } from '../main';
import { runOrderScenario } from '../support/order-scenario';
import { loadFigures, rate } from '../support/report';
import { round } from '../support/stats';

const GOAL_RATIO = 0.9;

/** Runs one round of the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const outcome = await runOrderScenario('hot', options, 1);
  return {
    scenario: 'hot',
    figures: loadFigures(outcome.report),
    load: outcome.report,
    violations: outcome.violations,
    deadlocks: outcome.deadlocks,
    orderStatuses: outcome.statuses,
  };
}

/** The goal, once every round of every scenario ran. */
export function goal(self: ScenarioResult, all: readonly ScenarioResult[]): GoalCheck {
  const spread = all.find((result) => result.scenario === 'spread')?.load;
  const ratio = spread === undefined || self.load === undefined ? undefined : rate(self.load) / rate(spread);
  const negative = (self.violations ?? []).some((line) => line.startsWith('stock_non_negative'));
  return {
    goal: `hot >= ${GOAL_RATIO} x spread orders/s, 0 deadlocks, no negative stock`,
    ...(ratio === undefined ? {} : { goalMet: ratio >= GOAL_RATIO && self.deadlocks === 0 && !negative }),
    figures: { 'ratio hot/spread': ratio === undefined ? 'spread not run' : round(ratio) },
  };
}
