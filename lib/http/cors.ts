/**
 * CORS for an allow-list of browser origins, on `@koa/cors`: preflights of allowed origins are answered (204) before
 * anything else runs, allowed origins get the headers on every response, errors included, and other origins get no
 * CORS headers at all, so browsers keep them out. The API and the codec server each pass their own list and headers.
 */
import koaCors from '@koa/cors';
import type { Middleware } from 'koa';

/** What a process allows; each list is sent as is. */
export interface CorsOptions {
  /** Origins allowed to call (`*` allows any). */
  origins: readonly string[];
  /** Methods a preflight allows. */
  allowMethods: readonly string[];
  /** Request headers a browser client may send. */
  allowHeaders: readonly string[];
  /** Response headers a browser client may read. @default none */
  exposeHeaders?: readonly string[];
  /** Whether browsers may send cookies (`Access-Control-Allow-Credentials: true`). @default false */
  credentials?: boolean;
  /** How long a browser may cache a preflight, in seconds. @default 600 */
  maxAgeSeconds?: number;
}

/** A predicate telling whether `origin` (an `Origin` header, `''` when absent) is in `origins` (`*`: any). */
export function originAllowed(origins: readonly string[]): (origin: string) => boolean {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (origin) => origin !== '' && (any || allowed.has(origin));
}

/** Middleware answering preflights and decorating responses for the allowed origins. */
export function cors(options: CorsOptions): Middleware {
  const allowed = originAllowed(options.origins);
  return koaCors({
    origin: (ctx) => (allowed(ctx.get('Origin')) ? ctx.get('Origin') : ''),
    allowMethods: options.allowMethods.join(', '),
    allowHeaders: options.allowHeaders.join(', '),
    exposeHeaders: options.exposeHeaders?.join(', '),
    credentials: options.credentials ?? false,
    maxAge: options.maxAgeSeconds ?? 600,
  });
}
