/**
 * Temporal's own ceiling on this machine: `minimalWorkflow` (bench/minimal/) on 1,000 bench products, run like `floor`.
 * Goal, in the same run: spread orders/s >= 0.5 x minimal workflows/s.
 */
import type { BenchOptions, ScenarioResult } from '../contract';
import { MINIMAL_WORKFLOW_TYPE } from '../minimal/workflow';
import { createProducts, removeBenchRows } from '../support/catalog';
import { randomSku, RATIO_GOALS, ratioGoal, runWorkflowScenario } from '../support/scenario';

const SKUS = 1000;

/** Runs one round of the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const { stack } = options;
  const run = `${options.round.index}-${Date.now().toString(36).toUpperCase()}`;
  const skus = await createProducts(stack.db, `BENCH-MINIMAL-${run}`, SKUS);
  try {
    return await runWorkflowScenario(options, {
      name: 'minimal',
      workflowType: MINIMAL_WORKFLOW_TYPE,
      taskQueue: stack.minimalTaskQueue,
      worker: await stack.minimalWorker(),
      workerName: 'minimal worker',
      sku: () => randomSku(skus),
    });
  } finally {
    // The minimal writes no orders rows: what it wrote hangs off the products' reservations.
    if (!stack.ownDatabase) await removeBenchRows(stack.db, { skus });
  }
}

/** The goal of spread against this ceiling, once every round of every scenario ran (reported on `minimal`). */
export const goal = ratioGoal(RATIO_GOALS.spreadMinimal, 'workflows/s');
