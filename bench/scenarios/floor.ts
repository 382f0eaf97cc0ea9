/**
 * The saga's shape with nothing inside: `floorWorkflow` (bench/floor/workflow.ts) — the saga's happy path with the
 * same update, activities and search-attribute upserts, all side effects removed — on its own task queue, run by a
 * worker process built like the real one, started like an order (update-with-start of the `reservation` update) and
 * waited for to completion, at the same fixed concurrency as `spread` and `hot`. spread / floor is what our own
 * code costs on top of the saga's Temporal bookkeeping.
 */
import { FLOOR_WORKFLOW_TYPE } from '../floor/workflow';
import type { BenchOptions, ScenarioResult } from '../contract';
import { runWorkflowScenario } from '../support/scenario';

/** Runs one round of the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  return runWorkflowScenario(options, {
    name: 'floor',
    workflowType: FLOOR_WORKFLOW_TYPE,
    taskQueue: options.stack.floorTaskQueue,
    worker: await options.stack.floorWorker(),
    workerName: 'floor worker',
    sku: () => 'FLOOR',
  });
}
