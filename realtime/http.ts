/**
 * The relay's plain HTTP routes (Socket.IO answers `/socket.io/` itself): `/health`, the demo page and its static
 * files, `/config.json` (where the page finds the API) and, outside production, `/dev-token` for the demo.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
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

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

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

  const serveStatic = async (ctx: Context): Promise<void> => {
    let relative: string;
    try {
      relative = ctx.path === '/' ? 'index.html' : decodeURIComponent(ctx.path.slice(1));
    } catch {
      relative = '';
    }
    const file = path.resolve(publicDir, relative);
    const type = CONTENT_TYPES[path.extname(file)];
    if (!file.startsWith(`${publicDir}${path.sep}`) || type === undefined) throw noRoute(ctx.path);
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      throw noRoute(ctx.path);
    }
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = type;
    ctx.body = body;
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
    ctx.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    await next();
  });
  app.use(errorHandler(logger));
  app.use(async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      throw new ApiError('method_not_allowed', `${ctx.method} is not allowed`, {}, { Allow: 'GET, HEAD' });
    }
    switch (ctx.path) {
      case '/health':
        ctx.body = { status: 'ok', ...health() };
        return;
      case '/config.json':
        ctx.body = {
          apiUrl: deps.apiUrl ?? `http://${requestHostname(ctx, config.host)}:${config.apiPort}`,
          devTokens: config.nodeEnv !== 'production',
        };
        return;
      case '/dev-token':
        devToken(ctx);
        return;
      default:
        await serveStatic(ctx);
    }
  });
  const handle = app.callback();
  return (req, res) => void handle(req, res);
}
