/**
 * Builds the order worker from explicit dependencies, so `worker/main.ts` and the integration tests run exactly the
 * same worker: same task queue wiring, concurrency and shutdown settings, workflows and activities. The bench's
 * workers take its runtime setup and settings too.
 */
import { readFile } from 'node:fs/promises';
import type { DataConverter } from '@temporalio/common';
import {
  bundleWorkflowCode,
  Runtime,
  Worker,
  type ActivityInboundCallsInterceptor,
  type NativeConnection,
  type WorkflowBundle,
  type WorkerOptions,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import type { Activities } from '../activities';
import { tolerantDecoding } from '../lib/codec';
import { isUndecodable } from '../lib/payload-converter';
import type { ExportActivities } from '../activities/exports';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { temporalLogger } from './temporal-logger';

/** The workflow bundle's entry module (`workflows/index.ts`). */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/** The worker's payload converter (lib/payload-converter.ts): an unreadable payload becomes `UndecodablePayload`. */
export const PAYLOAD_CONVERTER_PATH = require.resolve('../lib/payload-converter');

/** The workflow interceptors (workflows/interceptors.ts): no unreadable workflow input or activity result. */
const WORKFLOW_INTERCEPTORS_PATH = require.resolve('../workflows/interceptors');

/** The part of the configuration a worker needs. */
export type WorkerConfig = Pick<
  Config,
  | 'temporal'
  | 'workerMaxConcurrentActivities'
  | 'workerMaxConcurrentWorkflowTasks'
  | 'workerMaxCachedWorkflows'
  | 'shutdownGraceMs'
>;

/** Dependencies of `createOrderWorker`. */
export interface OrderWorkerOptions {
  /** A worker connection (`connectWorker`); the caller closes it after the worker stopped. */
  connection: NativeConnection;
  config: WorkerConfig;
  /** Every activity; the export ones may be left out by workers that run no exports (the floor bench). */
  activities: Omit<Activities, keyof ExportActivities> & Partial<ExportActivities>;
  /**
   * A prebuilt workflow bundle (`bundleOrderWorkflows`, or `{ codePath }` of one built ahead of time).
   * @default bundles `workflows/` when the worker is created (seconds of CPU)
   */
  workflowBundle?: WorkflowBundleOption;
  /** Payload converter/codec, shared with the clients (e.g. the payment-data encryption codec). */
  dataConverter?: DataConverter;
}

/**
 * Installs the SDK's runtime, before any connection exists: its logs go to `logger`, its metrics to Prometheus on
 * `metricsAddress`. Signals are left to the process (drain the worker, then close its own clients), not the runtime.
 */
export function installWorkerRuntime(logger: Logger, metricsAddress: string): void {
  Runtime.install({
    logger: temporalLogger(logger),
    shutdownSignals: [],
    telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } },
  });
}

/** Where a worker of ours polls, how much it runs at once and its drain time: the bench's workers use them too. */
export function workerSettings(config: WorkerConfig) {
  return {
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.workerMaxConcurrentWorkflowTasks,
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
    shutdownGraceTime: config.shutdownGraceMs,
  } satisfies Partial<WorkerOptions>;
}

/** Bundles the workflow code once; pass the result to every worker of the process (or of a test file). */
export async function bundleOrderWorkflows(logger?: Logger): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    workflowInterceptorModules: [WORKFLOW_INTERCEPTORS_PATH],
    ...(logger !== undefined ? { logger: temporalLogger(logger) } : {}),
  });
}

/** Reads a bundle written ahead of time (`bundle.code` saved to a file); fails loudly if it is missing. */
export async function loadWorkflowBundle(codePath: string): Promise<WorkflowBundle> {
  return { code: await readFile(codePath, 'utf8') };
}

/**
 * An activity's input must be readable: an `UndecodablePayload` there means a misconfigured worker (a payload key it
 * lacks), so the attempt fails (retryably, as a codec error did) instead of running on it.
 */
const rejectUndecodableInput: NonNullable<ActivityInboundCallsInterceptor['execute']> = async (input, next) => {
  const unreadable = input.args.find(isUndecodable);
  if (unreadable !== undefined) {
    throw new Error(`an activity argument could not be decoded (${unreadable.why}); check PAYLOAD_CODEC_KEYS`);
  }
  return next(input);
};

/** Creates (does not run) a worker polling `config.temporal.taskQueue` for order workflows and their activities. */
export async function createOrderWorker({
  connection,
  config,
  activities,
  workflowBundle,
  dataConverter,
}: OrderWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    ...workerSettings(config),
    workflowBundle: workflowBundle ?? (await bundleOrderWorkflows()),
    activities,
    // Signals and updates typed by hand may carry payloads nobody can read: they reach their handlers as
    // `UndecodablePayload` instead of failing the workflow task (lib/payload-converter.ts). Nothing else may.
    dataConverter: {
      ...dataConverter,
      payloadConverterPath: PAYLOAD_CONVERTER_PATH,
      payloadCodecs: (dataConverter?.payloadCodecs ?? []).map(tolerantDecoding),
    },
    interceptors: { activity: [() => ({ inbound: { execute: rejectUndecodableInput } })] },
  });
}
