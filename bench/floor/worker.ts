/**
 * Floor worker entry (`node --import tsx bench/floor/worker.ts`, spawned by the bench): the order worker's setup
 * (`createOrderWorker`: same concurrency, cache and shutdown settings from the environment, the same payload codec, a
 * separate process) with `floorWorkflow` bundled on its own and no-op activities, polling `TEMPORAL_TASK_QUEUE` (the
 * bench's floor queue).
 */
import { bundleWorkflowCode, Runtime } from '@temporalio/worker';
import { createDataConverter } from '../../lib/codec';
import { loadConfigOrExit } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { connectWorker } from '../../lib/temporal';
import { createOrderWorker } from '../../worker/create-worker';
import { temporalLogger } from '../../worker/temporal-logger';
import { createFloorActivities } from './activities';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('floor-worker', config.logLevel, { taskQueue: config.temporal.taskQueue });
  // Like worker/main.ts: the SDK's logs through our logger, its metrics on METRICS_PORT, signals handled below.
  Runtime.install({
    logger: temporalLogger(logger),
    shutdownSignals: [],
    telemetryOptions: { metrics: { prometheus: { bindAddress: `${config.host}:${config.metricsPort}` } } },
  });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('./workflow'),
    logger: temporalLogger(logger),
  });
  const connection = await connectWorker(config.temporal);
  try {
    const worker = await createOrderWorker({
      connection,
      config,
      activities: createFloorActivities(),
      workflowBundle,
      // The payload codec of the API and the order worker: its cost belongs to the ceiling too.
      dataConverter: createDataConverter(config),
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => worker.shutdown());
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((error: unknown) => {
  createLogger('floor-worker').error('floor worker stopped on an error', { error });
  process.exitCode = 1;
});
