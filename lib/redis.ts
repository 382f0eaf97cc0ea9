import Redis, { type RedisOptions } from 'ioredis';
import type { Logger } from './logger';

/**
 * Builds an ioredis client; the caller owns it and calls `quit()`.
 *
 * With `logger`, the client's connection errors are reported by `reportOutages` (one warning per outage, one line when
 * it ends) instead of ioredis's `[ioredis] Unhandled error event` stack on every reconnect attempt.
 */
export function createRedis(url: string, options: RedisOptions = {}, logger?: Logger): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, ...options });
  if (logger !== undefined) reportOutages(client, logger);
  return client;
}

/** `redis://user:secret@host:6379/0` -> `redis://host:6379/0`: where Redis is, without its credentials. */
function redisAddress(client: Redis): string {
  const { host, port, db, path } = client.options;
  return path !== undefined && path !== null ? `unix:${path}` : `redis://${host}:${port}/${db ?? 0}`;
}

/**
 * Logs a client's outages for operators: one `warn` when the connection is lost or cannot be made (with the address and
 * the error, e.g. `connect ECONNREFUSED 127.0.0.1:6379`, and that ioredis keeps retrying), one `info` when it is ready
 * again, and nothing for the reconnect attempts between. Handling `error` is also what keeps ioredis from printing
 * `[ioredis] Unhandled error event` itself.
 */
export function reportOutages(client: Redis, logger: Logger): void {
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn('redis unavailable; retrying in the background (is Redis running? check REDIS_URL)', {
      redis: redisAddress(client),
      error: error.message,
    });
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info('redis connection restored', { redis: redisAddress(client) });
  });
}
