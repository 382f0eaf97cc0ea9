/**
 * The relay's plain HTTP routes (Socket.IO answers `/socket.io/` itself): `/health`, the demo page and its static
 * files, `/config.json` (where the page finds the API) and, outside production, `/dev-token` for the demo.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { fieldIssues } from '../lib/field-issues';
import { normaliseStorableText } from '../lib/storable-text';
import { storableText } from '../lib/text-schema';
import { signDevToken } from './auth';

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

/** Query of `/dev-token`: both optional, nothing else (an unknown or repeated parameter is a 400 naming it). */
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

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

function requestHostname(req: IncomingMessage, fallback: string): string {
  try {
    return new URL(`http://${req.headers.host ?? fallback}`).hostname;
  } catch {
    return fallback;
  }
}

/** Builds the request listener for everything that is not Socket.IO. */
export function createHttpRoutes(deps: HttpRoutesDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, logger, health } = deps;
  const publicDir = path.resolve(deps.publicDir ?? PUBLIC_DIR);

  const serveStatic = async (pathname: string, res: ServerResponse, headOnly: boolean): Promise<void> => {
    let relative: string;
    try {
      relative = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
    } catch {
      relative = '';
    }
    const file = path.resolve(publicDir, relative);
    const type = CONTENT_TYPES[path.extname(file)];
    if (!file.startsWith(`${publicDir}${path.sep}`) || type === undefined) {
      sendJson(res, 404, { error: 'not_found', message: `no route ${pathname}` });
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      sendJson(res, 404, { error: 'not_found', message: `no route ${pathname}` });
      return;
    }
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(headOnly ? undefined : body);
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://relay');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(
        res,
        405,
        { error: 'method_not_allowed', message: `${req.method ?? '?'} is not allowed` },
        { Allow: 'GET, HEAD' },
      );
      return;
    }
    switch (url.pathname) {
      case '/health':
        sendJson(res, 200, { status: 'ok', ...health() });
        return;
      case '/config.json':
        sendJson(res, 200, {
          apiUrl: deps.apiUrl ?? `http://${requestHostname(req, config.host)}:${config.apiPort}`,
          devTokens: config.nodeEnv !== 'production',
        });
        return;
      case '/dev-token': {
        // Minting tokens over HTTP is a demo convenience only; production never answers it.
        if (config.nodeEnv === 'production') {
          sendJson(res, 404, { error: 'not_found', message: 'no route /dev-token' });
          return;
        }
        const names = [...url.searchParams.keys()];
        const repeated = names.find((name, index) => names.indexOf(name) !== index);
        const query = devTokenQuerySchema.safeParse(Object.fromEntries(url.searchParams));
        if (repeated !== undefined || !query.success) {
          const issue = query.success
            ? { field: repeated ?? 'query', message: 'must be given once' }
            : fieldIssues(query.error, { whole: 'query', unknownKey: 'unknown query parameter' })[0];
          const field = normaliseStorableText(issue?.field, 64) ?? 'query';
          sendJson(res, 400, {
            error: 'validation_failed',
            field,
            message: `${field}: ${issue?.message ?? 'invalid'}`,
          });
          return;
        }
        const { customer: customerId = 'demo-customer', role = 'customer' } = query.data;
        sendJson(res, 200, { token: signDevToken({ customerId, role }, config.jwtSecret), customerId, role });
        return;
      }
      default:
        await serveStatic(url.pathname, res, req.method === 'HEAD');
    }
  };

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      logger.error('relay http route failed', { url: req.url, error });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: 'internal error' });
      else res.destroy();
    });
  };
}
