/**
 * Minimal worker entry (spawned by the bench): `minimalWorkflow` and its activity on a pool of `DB_POOL_MAX`, with the
 * order worker's settings and payload codec, polling `TEMPORAL_TASK_QUEUE` (the bench's minimal queue).
 */
import { Worker } from '@temporalio/worker';
import { createDataConverter } from '../../lib/codec';
import { createDb } from '../../lib/db';
import { benchWorkerMain } from '../support/bench-worker';
import { createMinimalActivities } from './activities';

benchWorkerMain('minimal-worker', require.resolve('./workflow'), async ({ config, connection, workflowBundle }) => {
  const db = createDb({ url: config.databaseUrl, poolMax: config.dbPoolMax });
  // The settings of worker/create-worker.ts createOrderWorker (which is typed for the saga's activities).
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle,
    activities: createMinimalActivities(db),
    maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.workerMaxConcurrentWorkflowTasks,
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
    shutdownGraceTime: config.shutdownGraceMs,
    dataConverter: createDataConverter(config),
  });
  return { worker, close: () => db.destroy() };
});
