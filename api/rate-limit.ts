/**
 * Per-customer fixed-window rate limit kept in Redis, so every API replica counts against the same budget. A request
 * over the budget gets 429 with Retry-After; when Redis cannot be reached the limit fails open (and logs), because
 * refusing every order while Redis restarts would be worse than a minute without limits.
 */
import type Redis from 'ioredis';
import type { Middleware } from 'koa';
import { redisKeys } from '../lib/events';
import type { Logger } from '../lib/logger';
import type { AuthState } from './auth';
import { ApiError } from '../lib/http/errors';

/** Options of `rateLimit`. */
export interface RateLimitOptions {
  redis: Redis;
  /** Deployment key prefix (`Config.redisKeyPrefix`). */
  prefix: string;
  /** Requests allowed per customer per window. */
  limit: number;
  /** Window length. @default 60000 */
  windowMs?: number;
  logger: Logger;
  /** How long to wait for Redis before letting the request through. @default 500 */
  timeoutMs?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Middleware after `requireAuth`: counts the caller's request and refuses it once the window's budget is spent. */
export function rateLimit(options: RateLimitOptions): Middleware<AuthState> {
  const { redis, limit, logger } = options;
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 500;
  const keys = redisKeys(options.prefix);
  return async (ctx, next) => {
    const at = now();
    const window = Math.floor(at / windowMs);
    const resetMs = (window + 1) * windowMs - at;
    let count: number | undefined;
    try {
      const key = keys.rateLimit(ctx.state.caller.customerId, window);
      const results = await withTimeout(
        redis
          .multi()
          .incr(key)
          .pexpire(key, windowMs * 2)
          .exec(),
        timeoutMs,
      );
      const incr = results?.[0];
      if (incr !== undefined && incr[0] === null) count = Number(incr[1]);
    } catch (error) {
      logger.warn('rate limit unavailable, allowing request', { err: error });
    }
    if (count !== undefined) {
      ctx.set('RateLimit-Limit', String(limit));
      ctx.set('RateLimit-Remaining', String(Math.max(0, limit - count)));
      ctx.set('RateLimit-Reset', String(Math.ceil(resetMs / 1000)));
      if (count > limit) {
        const retryAfter = Math.max(1, Math.ceil(resetMs / 1000));
        throw new ApiError(
          'rate_limited',
          `rate limit of ${limit} requests per ${windowMs / 1000}s exceeded; retry in ${retryAfter}s`,
          { limit, retryAfterSeconds: retryAfter },
          { 'Retry-After': String(retryAfter) },
        );
      }
    }
    await next();
  };
}
