/**
 * Minimal worker entry (spawned by the bench): `minimalWorkflow` and its activity on a pool of `DB_POOL_MAX`, with the
 * order worker's settings and payload codec, polling `TEMPORAL_TASK_QUEUE` (the bench's minimal queue).
 */
import { Worker } from '@temporalio/worker';
import { createDataConverter } from '../../lib/codec';
import { createDb } from '../../lib/db';
import { workerSettings } from '../../worker/create-worker';
import { benchWorkerMain } from '../support/bench-worker';
import { createMinimalActivities } from './activities';

benchWorkerMain('minimal-worker', require.resolve('./workflow'), async ({ config, connection, workflowBundle }) => {
  const db = createDb({ url: config.databaseUrl, poolMax: config.dbPoolMax });
  // The order worker's settings, not createOrderWorker itself: that one is typed for the saga's activities.
  const worker = await Worker.create({
    connection,
    ...workerSettings(config),
    workflowBundle,
    activities: createMinimalActivities(db),
    dataConverter: createDataConverter(config),
  });
  return { worker, close: () => db.destroy() };
});
