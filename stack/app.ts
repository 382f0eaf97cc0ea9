/**
 * Our own processes on top of the services: where their entry points are, the environment they are configured by
 * (the variables lib/config.ts reads) and the checks that say each one is ready. The dev launcher, bench and chaos
 * start the worker, API, relay and codec server with these (and `startEntry`); the test helpers build their
 * environment with `appEnv`.
 */
import os from 'node:os';
import type { WorkflowService } from '@temporalio/client';
import { httpJson, httpOk } from './ready';

/** Entry point of each of our processes, relative to the repository root. */
export const ENTRY_POINTS = {
  worker: 'worker/main.ts',
  api: 'api/main.ts',
  relay: 'realtime/main.ts',
  codec: 'codec-server/main.ts',
} as const;

/** Where our processes find their services, and what keeps one stack's queue and keys apart from another's. */
export interface AppServices {
  databaseUrl: string;
  redisUrl: string;
  temporalAddress: string;
  namespace: string;
  /** `TEMPORAL_TASK_QUEUE`; when absent, whatever `base` or `settings` say, else the config's default (`orders`). */
  taskQueue?: string;
  /** `REDIS_KEY_PREFIX`; when absent, whatever `base` or `settings` say, else the config's default. */
  redisKeyPrefix?: string;
}

/**
 * The whole environment of one of our processes: `base`, then the services' variables, then `settings` (which win).
 * `base` defaults to PATH and HOME only (with fallbacks when the caller has none), so nothing else from the caller's
 * environment leaks into the process's config.
 */
export function appEnv(
  services: AppServices,
  settings: Record<string, string> = {},
  base: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir() },
): NodeJS.ProcessEnv {
  return {
    ...base,
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    TEMPORAL_ADDRESS: services.temporalAddress,
    TEMPORAL_NAMESPACE: services.namespace,
    ...(services.taskQueue === undefined ? {} : { TEMPORAL_TASK_QUEUE: services.taskQueue }),
    ...(services.redisKeyPrefix === undefined ? {} : { REDIS_KEY_PREFIX: services.redisKeyPrefix }),
    ...settings,
  };
}

/** Ready check of an API at `url`: `GET /ready` answers 2xx (PostgreSQL, Redis and Temporal reachable). */
export const apiReady = (url: string) => (): Promise<boolean> => httpOk(`${url}/ready`);

/** Ready check of a relay at `url`: its `/health` says it reads the Redis stream. */
export const relayReady = (url: string) => async (): Promise<boolean> => {
  const health = (await httpJson(`${url}/health`)) as { stream?: { connected?: boolean } } | undefined;
  return health?.stream?.connected === true;
};

/** Ready check of a worker: some worker polls `taskQueue` for workflow tasks (DescribeTaskQueue). */
export const pollerReady =
  (service: WorkflowService, namespace: string, taskQueue: string) => async (): Promise<boolean> => {
    try {
      const described = await service.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
      });
      return (described.pollers?.length ?? 0) > 0;
    } catch {
      return false; // Temporal busy or restarting: asked again on the next poll
    }
  };
