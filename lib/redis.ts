import Redis, { type RedisOptions } from 'ioredis';

/** Builds an ioredis client; the caller owns it and calls `quit()`. */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, ...options });
}
