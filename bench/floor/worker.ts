/**
 * Floor worker entry (spawned by the bench): the order worker (`createOrderWorker`, same settings and payload codec)
 * with `floorWorkflow` bundled on its own and no-op activities, polling `TEMPORAL_TASK_QUEUE` (the bench's floor queue).
 */
import { createDataConverter } from '../../lib/codec';
import { createOrderWorker } from '../../worker/create-worker';
import { benchWorkerMain } from '../support/bench-worker';
import { createFloorActivities } from './activities';

benchWorkerMain('floor-worker', require.resolve('./workflow'), async ({ config, connection, workflowBundle }) => ({
  worker: await createOrderWorker({
    connection,
    config,
    activities: createFloorActivities(),
    workflowBundle,
    // The payload codec of the API and the order worker: its cost belongs to the ceiling too.
    dataConverter: createDataConverter(config),
  }),
}));
