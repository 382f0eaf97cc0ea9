/**
 * Readiness for the stack toolkit: free ports (get-port), polling waits, the probes that tell whether
 * PostgreSQL, Redis, Temporal or an HTTP endpoint answers, and the error type for failures a user can fix.
 */
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import getPort, { portNumbers } from 'get-port';
import Redis from 'ioredis';
import { Client } from 'pg';

/**
 * A provisioning failure the user can fix: its message is one line saying what went wrong and what to do. The
 * launchers print it as is (`orderflow: <message>`); any other error is unexpected and printed with a pointer.
 */
export class SetupError extends Error {}

/** A free TCP port on loopback; with `range` ([from, to]), one inside it when any is free. */
export function freePort(range?: [number, number]): Promise<number> {
  return getPort({ host: '127.0.0.1', ...(range === undefined ? {} : { port: portNumbers(...range) }) });
}

/** True if something accepts TCP connections on host:port within `timeoutMs`. */
export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Thrown by `waitUntil` when the deadline passes (callers tell a timeout from a failure by its type). */
export class WaitTimeoutError extends Error {}

/** How `waitUntil` polls. */
export interface WaitOptions {
  /** Time between two checks. @default 100 */
  pollMs?: number;
  /**
   * A check that throws counts as "not yet" (e.g. a query before the first workflow task), and the last such error is
   * the timeout's `cause`; otherwise the error ends the wait (a process that died while we waited). @default false
   */
  retryErrors?: boolean;
}

/**
 * Polls `check` until it returns something other than `false` or `undefined`, and resolves with that (`true` for a
 * yes/no check); rejects with a `WaitTimeoutError` ("timed out after <ms>ms waiting for <what>") after `timeoutMs`,
 * or with the error `check` throws unless `retryErrors`.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | false | undefined> | T | false | undefined,
  timeoutMs = 30_000,
  { pollMs = 100, retryErrors = false }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined) return value;
    } catch (error) {
      if (!retryErrors) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const message = `timed out after ${timeoutMs}ms waiting for ${what}`;
      throw new WaitTimeoutError(message, retryErrors ? { cause: lastError } : undefined);
    }
    await delay(pollMs);
  }
}

/** True if PostgreSQL at `url` accepts a query. */
export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True if Redis at `url` answers PING. */
export async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** True if a Temporal frontend at `address` (host:port) answers GetSystemInfo. */
export async function temporalAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/** The JSON body of a 2xx answer from `url` within 2 s, else undefined. */
export async function httpJson(url: string): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.ok ? await response.json().catch(() => ({})) : undefined;
  } catch {
    return undefined;
  }
}

/** True if `url` answers 2xx within 2 s. */
export async function httpOk(url: string): Promise<boolean> {
  return (await httpJson(url)) !== undefined;
}
