/** Redis for the stack: the given or local server when one answers, else a `redis-server` from PATH we start. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Started } from './postgres';
import { startProcess, waitReady } from './process';
import { freePort, redisAnswers, SetupError } from './ready';
import { findOnPath } from './temporal';

/** The local Redis the tools fall back to. */
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Starts `redis-server` from `pathValue` on 127.0.0.1:`port` with its data in `dir`, persisted when `persist`
 * (snapshots and append-only file); throws a `SetupError` saying how to install it when there is none.
 */
export async function startRedisServer(
  pathValue: string,
  dir: string,
  port: number,
  persist: boolean,
): Promise<Started> {
  const binary = findOnPath('redis-server', pathValue);
  if (binary === undefined) {
    throw new SetupError(
      'No Redis found: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).',
    );
  }
  mkdirSync(dir, { recursive: true });
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir];
  args.push('--save', persist ? '60 1' : '', '--appendonly', persist ? 'yes' : 'no');
  const server = startProcess('redis', { command: binary, args, env: process.env, keepLines: 20 });
  const url = `redis://127.0.0.1:${port}`;
  await waitReady(server, `redis-server on port ${port}`, () => redisAnswers(url), 10_000);
  return { url, stop: async () => void (await server.stop('SIGTERM', 5000)) };
}

/**
 * A Redis for one run: `url` when given, else `local` when it answers, else a `redis-server` without persistence on
 * a free port in a temporary directory (deleted by `stop`). `started` tells whether it is ours.
 */
export async function findOrStartRedis(
  pathValue: string,
  options: { url?: string; local?: string; tmpPrefix: string },
): Promise<Started & { started: boolean }> {
  const none = (url: string) => ({ url, started: false, stop: () => Promise.resolve() });
  if (options.url !== undefined) return none(options.url);
  const local = options.local ?? LOCAL_REDIS_URL;
  if (await redisAnswers(local)) return none(local);
  const dir = mkdtempSync(path.join(os.tmpdir(), options.tmpPrefix));
  const server = await startRedisServer(pathValue, dir, await freePort(), false);
  return {
    url: server.url,
    started: true,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
