/**
 * Temporal's own ceiling on this machine: `minimalWorkflow` (bench/minimal/workflow.ts) — update-with-start answered
 * in the first workflow task, ONE activity doing the order's database work in one transaction (reserve, payment row,
 * commit, COMPLETED event, on 1,000 bench products), completion — on its own queue and worker process, started and
 * awaited like `floor`, at the same concurrency. Goal, in the same run: spread orders/s >= 0.5 x minimal workflows/s.
 */
import type { BenchOptions, GoalCheck, ScenarioResult } from '../main';
import { MINIMAL_WORKFLOW_TYPE } from '../minimal/workflow';
import { createProducts } from '../support/catalog';
import { loadFigures, rate } from '../support/report';
import { round } from '../support/stats';
import { runWorkflowScenario } from '../support/workflow-scenario';

const GOAL_RATIO = 0.5;
const SKUS = 1000;
/** Stock of every minimal product: far more than a run can take. */
const AMPLE_STOCK = 10_000_000;

/** Runs one round of the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const { stack } = options;
  const skus = await createProducts(
    stack.db,
    `BENCH-MINIMAL-${options.round.index}-${Date.now().toString(36).toUpperCase()}`,
    SKUS,
    AMPLE_STOCK,
  );
  const report = await runWorkflowScenario(options, {
    name: 'minimal',
    workflowType: MINIMAL_WORKFLOW_TYPE,
    taskQueue: stack.minimalTaskQueue,
    worker: await stack.minimalWorker(),
    workerName: 'minimal worker',
    sku: (i) => skus[Math.floor(Math.random() * skus.length)] ?? skus[i % skus.length] ?? '',
  });
  return { scenario: 'minimal', figures: loadFigures(report), load: report };
}

/** The goal of spread against this ceiling, once every round of every scenario ran (reported on `minimal`). */
export function goal(self: ScenarioResult, all: readonly ScenarioResult[]): GoalCheck {
  const spread = all.find((result) => result.scenario === 'spread')?.load;
  const ratio = spread === undefined || self.load === undefined ? undefined : rate(spread) / rate(self.load);
  return {
    goal: `spread >= ${GOAL_RATIO} x minimal workflows/s`,
    ...(ratio === undefined ? {} : { goalMet: ratio >= GOAL_RATIO }),
    figures: { 'ratio spread/minimal': ratio === undefined ? 'spread not run' : round(ratio) },
  };
}
