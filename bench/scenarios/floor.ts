/**
 * The saga's shape with nothing inside (`floorWorkflow`, bench/floor/), on a worker process built like the real one,
 * at the concurrency of `spread` and `hot`: spread / floor is what our own code costs on top of Temporal's bookkeeping.
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
