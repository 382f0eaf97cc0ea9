/**
 * The relay's plain HTTP routes (Socket.IO answers `/socket.io/` itself): `/health`, the demo page and its static
 * files, `/config.json` (where the page finds the API) and, outside production, `/dev-token` for the demo.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { send } from '@koa/send';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { z } from 'zod';
import { signToken } from '../lib/auth';
import type { Config } from '../lib/config';
import { ApiError, errorHandler } from '../lib/http/errors';
import { parseQuery } from '../lib/http/query';
import type { Logger } from '../lib/logger';
import { storableText } from '../lib/text-schema';

/** Where the demo page's files live. */
export const PUBLIC_DIR = path.join(__dirname, 'public');

/** Query of `/dev-token`: both optional, nothing else (lib/http/query.ts: an unknown or repeated one is a 400). */
const devTokenQuerySchema = z.strictObject({
  customer: storableText({
    max: 128,
    pattern: { regex: /^[A-Za-z0-9_.:@-]+$/, message: 'must be 1-128 characters of [A-Za-z0-9_.:@-]' },
  }).optional(),
  role: z.enum(['customer', 'admin'], { error: 'must be customer or admin' }).optional(),
});

/** Dependencies of the HTTP routes. */
export interface HttpRoutesDeps {
  config: Config;
  logger: Logger;
  /** Base URL of the API for the demo page; by default the page's own host on `config.apiPort`. */
  apiUrl?: string;
  /** @default PUBLIC_DIR */
  publicDir?: string;
  /** What `/health` reports besides `status`. */
  health: () => Record<string, unknown>;
}

function requestHostname(ctx: Context, fallback: string): string {
  try {
    return new URL(`http://${ctx.get('Host') || fallback}`).hostname;
  } catch {
    return fallback;
  }
}

/** The demo page's files are revalidated on every load, so a new version shows at once. */
const noCache = (res: ServerResponse): void => void res.setHeader('Cache-Control', 'no-cache');

function methodNotAllowed(method: string): ApiError {
  return new ApiError('method_not_allowed', `${method} is not allowed`, {}, { Allow: 'GET, HEAD' });
}

function noRoute(pathname: string): ApiError {
  return new ApiError('not_found', `no route ${pathname}`);
}

/**
 * Builds the request listener for everything that is not Socket.IO: a Koa app with the API's error path, so the relay
 * answers the API's error codes (`lib/http/errors.ts`).
 */
export function createHttpRoutes(deps: HttpRoutesDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, logger, health } = deps;
  const publicDir = path.resolve(deps.publicDir ?? PUBLIC_DIR);

  /** A file of the demo page (`/` is index.html); anything outside `publicDir`, hidden or missing is a 404. */
  const serveStatic = async (ctx: Context): Promise<void> => {
    try {
      // The files as they are: no precompressed .br/.gz siblings, no extension guessing.
      await send(ctx, ctx.path, {
        root: publicDir,
        index: 'index.html',
        setHeaders: noCache,
        brotli: false,
        gzip: false,
      });
    } catch {
      throw noRoute(ctx.path);
    }
  };

  const devToken = (ctx: Context): void => {
    // Minting tokens over HTTP is a demo convenience only; production never answers it.
    if (config.nodeEnv === 'production') throw noRoute('/dev-token');
    const { customer: customerId = 'demo-customer', role = 'customer' } = parseQuery(devTokenQuerySchema, ctx.query);
    ctx.body = { token: signToken(customerId, config.jwtSecret, { role }), customerId, role };
  };

  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(async (ctx, next) => {
    // No framing by other sites: in development /admin.html fetches an admin token for itself (clickjacking).
    ctx.set({
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "frame-ancestors 'none'",
      'X-Frame-Options': 'DENY',
    });
    await next();
  });
  app.use(errorHandler(logger));
  app.use(async (ctx, next) => {
    // Only GET and HEAD exist here (no CORS preflight either: Socket.IO answers its own).
    if (ctx.method === 'OPTIONS') throw methodNotAllowed(ctx.method);
    await next();
  });
  const router = new Router();
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok', ...health() };
  });
  router.get('/config.json', (ctx) => {
    ctx.body = {
      apiUrl: deps.apiUrl ?? `http://${requestHostname(ctx, config.host)}:${config.apiPort}`,
      devTokens: config.nodeEnv !== 'production',
    };
  });
  router.get('/dev-token', devToken);
  router.get('{/*file}', serveStatic);
  app.use(router.routes());
  app.use(router.allowedMethods());
  const handle = app.callback();
  return (req, res) => void handle(req, res);
}
