/**
 * `spread` with every order on the same SKU: each reservation queues on that product's row lock. Goal, in the same
 * run: hot >= 0.9 x spread orders/s, no deadlock (pg_stat_database), no negative stock, invariants hold.
 */
import type { BenchOptions, ScenarioResult } from '../contract';
import { RATIO_GOALS, ratioGoal, runOrderScenario } from '../support/scenario';

/** Runs one round of the scenario. */
export function run(options: BenchOptions): Promise<ScenarioResult> {
  return runOrderScenario('hot', options, 1);
}

/** The goal, once every round of every scenario ran. */
export const goal = ratioGoal(
  RATIO_GOALS.hotSpread,
  'orders/s, 0 deadlocks, no negative stock',
  (self) => self.deadlocks === 0 && !(self.violations ?? []).some((line) => line.startsWith('stock_non_negative')),
);
