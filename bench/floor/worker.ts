/**
 * Floor worker entry (`node --import tsx bench/floor/worker.ts`, spawned by the bench): the order worker's setup
 * (`createOrderWorker`: same concurrency, cache and shutdown settings from the environment, the same payload codec, a
 * separate process) with `floorWorkflow` bundled on its own and no-op activities, polling `TEMPORAL_TASK_QUEUE` (the
 * bench's floor queue).
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
