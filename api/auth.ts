/**
 * The API's authentication middleware on top of `lib/auth.ts`: every route but the public ones needs a valid bearer
 * token (checked before any handler runs), admin routes also `role: admin`.
 */
import type { Middleware } from 'koa';
import { LRUCache } from 'lru-cache';
import { authorizationHeader, bearerToken, verifyTokenWithExpiry, type Caller } from '../lib/auth';
import { ApiError } from '../lib/http/errors';

/** Koa state after `requireAuth`. */
export interface AuthState {
  caller: Caller;
}

/** How many verified tokens `requireAuth` remembers. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Middleware: rejects the request with 401 unless it carries a valid token; sets `ctx.state.caller`. Verifying a JWT
 * costs most of a millisecond, so tokens that verified are remembered (by their exact text, signature included) until
 * they expire, the least recently used dropped first; anything else is verified every time.
 */
export function requireAuth(secret: string): Middleware<AuthState> {
  // The expiry is checked on the wall clock the token's `exp` is written in, not on the cache's own monotonic clock.
  const verified = new LRUCache<string, { caller: Caller; expiresAtMs: number }>({ max: VERIFIED_CACHE_SIZE });
  return async (ctx, next) => {
    const token = bearerToken(authorizationHeader(ctx.req));
    const cached = verified.get(token);
    if (cached !== undefined && cached.expiresAtMs > Date.now()) {
      ctx.state.caller = cached.caller;
    } else {
      const { caller, expiresAt } = verifyTokenWithExpiry(token, secret);
      verified.set(token, { caller, expiresAtMs: expiresAt * 1000 });
      ctx.state.caller = caller;
    }
    await next();
  };
}

/** Middleware after `requireAuth`: 403 unless the caller is an admin (catalog, stock, exports, order actions). */
export function requireAdmin(): Middleware<AuthState> {
  return async (ctx, next) => {
    if (ctx.state.caller.role !== 'admin') {
      throw new ApiError('forbidden', `${ctx.method} ${ctx.path} is for admins only`);
    }
    await next();
  };
}
