/**
 * CORS for the browser clients of `CORS_ORIGINS` (e.g. the realtime relay's demo page on :3001 calling the API on
 * :3000): preflights are answered here, before authentication, and allowed origins get the headers on every response,
 * errors included. Other origins get no CORS headers, so browsers keep them out.
 */
import type { Middleware } from 'koa';

/** Request headers a browser client may send. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, Idempotency-Key';

/** Response headers a browser client may read. */
const EXPOSED_HEADERS =
  'Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Content-Disposition';

/** Middleware answering preflights and decorating responses for `origins` (`*` allows any origin). */
export function cors(origins: readonly string[]): Middleware {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return async (ctx, next) => {
    const origin = ctx.get('Origin');
    ctx.vary('Origin');
    if (origin === '' || !(any || allowed.has(origin))) {
      await next();
      return;
    }
    ctx.set('Access-Control-Allow-Origin', origin);
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '') {
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, PATCH');
      ctx.set('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    ctx.set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    await next();
  };
}
