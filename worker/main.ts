/**
 * Worker entry (`npm run worker`): parses the configuration, builds the activities on PostgreSQL, Redis and the
 * simulated gateway, connects to Temporal and polls the order task queue until SIGTERM/SIGINT, then drains: in-flight
 * activities get `SHUTDOWN_GRACE` to finish before anything is closed. Any number of workers can run side by side.
 */
import { createActivities } from '../activities';
import { createSimulatedGateway, gatewaySettingsFromConfig } from '../activities/payments';
import { parseCommandLine, processCommand } from '../lib/cli';
import { createDataConverter } from '../lib/codec';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { connectClient, connectWorker } from '../lib/temporal';
import { bundleOrderWorkflows, createOrderWorker, installWorkerRuntime, loadWorkflowBundle } from './create-worker';

/** Signals that start a graceful drain. */
const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

async function main(): Promise<void> {
  parseCommandLine(processCommand('worker'), {});
  const config = loadConfigOrExit();
  const logger = createLogger('worker', config.logLevel, { taskQueue: config.temporal.taskQueue });

  // Signals are handled below (drain, then close our own clients), not by the runtime.
  const metricsAddress = `${config.host}:${config.metricsPort}`;
  installWorkerRuntime(logger, metricsAddress);

  const bundlePath = config.workflowBundlePath;
  const started = Date.now();
  const workflowBundle = bundlePath ? await loadWorkflowBundle(bundlePath) : await bundleOrderWorkflows(logger);
  logger.info('workflow bundle ready', { prebuilt: Boolean(bundlePath), ms: Date.now() - started });

  const db = createDb({ url: config.databaseUrl, poolMax: config.dbPoolMax, logger });
  const redis = createRedis(config.redisUrl, {}, logger);
  const gateway = createSimulatedGateway({ db, ...gatewaySettingsFromConfig(config), logger });
  // Payloads are encrypted (docs/security.md): the same converter as the API's client, or neither can read the other.
  const dataConverter = createDataConverter(config);
  // The reconciliation activities describe order workflows through a client of their own.
  const temporal = await connectClient(config.temporal, dataConverter);
  const activities = createActivities({
    db,
    redis,
    redisKeyPrefix: config.redisKeyPrefix,
    gateway,
    exportsDir: config.exportsDir,
    logger,
    temporal,
  });
  const connection = await connectWorker(config.temporal);
  try {
    const worker = await createOrderWorker({ connection, config, activities, workflowBundle, dataConverter });
    let draining = false;
    for (const signal of SHUTDOWN_SIGNALS) {
      process.on(signal, () => {
        if (draining) return; // one drain; SIGKILL is the way to stop without one
        draining = true;
        logger.info('draining', { signal, graceMs: config.shutdownGraceMs });
        worker.shutdown();
      });
    }
    logger.info('worker polling', {
      address: config.temporal.address,
      namespace: config.temporal.namespace,
      metricsAddress,
    });
    await worker.run();
    logger.info('worker drained');
  } finally {
    await connection.close();
    await Promise.allSettled([db.destroy(), redis.quit(), temporal.connection.close()]);
  }
}

main().catch((error: unknown) => {
  createLogger('worker').error('worker stopped on an error', { error });
  process.exitCode = 1;
});
