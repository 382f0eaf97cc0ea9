/**
 * What the bench's worker entry points share with worker/main.ts: configuration from the environment, the SDK's logs
 * and metrics, a workflow bundle of their own, a worker connection, SIGTERM/SIGINT -> graceful shutdown.
 */
import { bundleWorkflowCode, type Worker, type WorkflowBundle } from '@temporalio/worker';
import type { NativeConnection } from '@temporalio/worker';
import { loadConfigOrExit, type Config } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { connectWorker } from '../../lib/temporal';
import { installWorkerRuntime } from '../../worker/create-worker';
import { temporalLogger } from '../../worker/temporal-logger';

/** What `createWorker` receives. */
export interface BenchWorkerContext {
  config: Config;
  connection: NativeConnection;
  workflowBundle: WorkflowBundle;
}

/** Runs a bench worker: bundles `workflowsPath`, runs `createWorker`'s worker until a signal, then its `close`. */
export function benchWorkerMain(
  name: string,
  workflowsPath: string,
  createWorker: (context: BenchWorkerContext) => Promise<{ worker: Worker; close?: () => Promise<void> }>,
): void {
  const main = async (): Promise<void> => {
    const config = loadConfigOrExit();
    const logger = createLogger(name, config.logLevel, { taskQueue: config.temporal.taskQueue });
    installWorkerRuntime(logger, `${config.host}:${config.metricsPort}`);
    const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: temporalLogger(logger) });
    const connection = await connectWorker(config.temporal);
    try {
      const { worker, close } = await createWorker({ config, connection, workflowBundle });
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => worker.shutdown());
      try {
        await worker.run();
      } finally {
        await close?.();
      }
    } finally {
      await connection.close();
    }
  };
  main().catch((error: unknown) => {
    createLogger(name).error(`${name} stopped on an error`, { error });
    process.exitCode = 1;
  });
}
