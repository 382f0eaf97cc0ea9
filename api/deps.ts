/** What the API is built from: clients created by the entry point (or a test) and passed in explicitly. */
import type { Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { TemporalCallOptions } from '../lib/order-workflow';

/** Tunables of the API that are not environment configuration. */
export interface AppOptions {
  /** Deadline of the Temporal calls made for one request; past it the API answers 503. @default 15000 */
  temporalTimeoutMs?: number;
  /** Retry-After (seconds) sent with every 503. @default 5 */
  retryAfterSeconds?: number;
  /** Deadline of each dependency check of GET /ready. @default 2000 */
  readyTimeoutMs?: number;
  /** True once the process drains for shutdown: /ready then answers 503 so load balancers stop routing here. */
  isShuttingDown?: () => boolean;
  /** Collect Node process metrics (event loop, heap, GC) on /metrics. @default true */
  processMetrics?: boolean;
}

/** Dependencies of `createApp`. */
export interface AppDeps {
  config: Config;
  db: Knex;
  redis: Redis;
  temporal: Client;
  logger: Logger;
  options?: AppOptions;
}

/** `AppOptions` with every default applied. */
export type ResolvedAppOptions = Required<AppOptions>;

/** Applies the documented defaults. */
export function resolveOptions(options: AppOptions = {}): ResolvedAppOptions {
  return {
    temporalTimeoutMs: options.temporalTimeoutMs ?? 15_000,
    retryAfterSeconds: options.retryAfterSeconds ?? 5,
    readyTimeoutMs: options.readyTimeoutMs ?? 2_000,
    isShuttingDown: options.isShuttingDown ?? (() => false),
    processMetrics: options.processMetrics ?? true,
  };
}

/** The deadline and Retry-After of the Temporal calls a route makes for one request. */
export function temporalCallOptions(options: ResolvedAppOptions): TemporalCallOptions {
  return { timeoutMs: options.temporalTimeoutMs, retryAfterSeconds: options.retryAfterSeconds };
}

/** Dependencies as the routes see them (options resolved). */
export interface RouteDeps extends Omit<AppDeps, 'options'> {
  options: ResolvedAppOptions;
}
