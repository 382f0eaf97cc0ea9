/**
 * The codec server (Temporal's remote codec protocol): `POST /encode` and `POST /decode` run payloads through the
 * same encryption codec as our workers and clients, so an authorised operator reads decrypted payloads in the
 * Temporal Web UI (`--ui-codec-endpoint`, `TEMPORAL_CODEC_ENDPOINT`) and CLI (`--codec-endpoint`, `--codec-auth`).
 *
 * Every codec request needs an admin token (operator-auth.ts) and an `X-Namespace` header naming our namespace; CORS
 * admits the configured Web UI origins only, with credentials, and any other browser origin is refused outright.
 * Nothing is cached (`Cache-Control: no-store`), and every decode is logged with the operator who asked.
 * `createCodecServer` never listens: `codec-server/main.ts` and the tests do.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { PayloadCodec } from '@temporalio/common';
import { bearerToken } from '../api/auth';
import { ApiError } from '../api/errors';
import { createEncryptionCodec, PayloadCodecError } from '../lib/codec';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { authenticateOperator, SESSION_COOKIE, verifyOperatorToken } from './operator-auth';
import { PayloadJsonError, payloadsFromJson, payloadsToJson } from './payload-json';

/** The part of the configuration the codec server needs. */
export type CodecServerConfig = Pick<Config, 'jwtSecret' | 'codecCorsOrigins' | 'temporal' | 'payloadCodecKeys'>;

/** Dependencies of `createCodecServer`. */
export interface CodecServerDeps {
  config: CodecServerConfig;
  /**
   * The codec to run payloads through.
   * @default the encryption codec on `config.payloadCodecKeys`
   */
  codec?: PayloadCodec;
  logger?: Logger;
  /**
   * Largest request body accepted (413 above it). Temporal caps one payload at 2 MiB by default.
   * @default 8 MiB
   */
  maxBodyBytes?: number;
}

/** Request headers a browser may send (the Web UI sends Content-Type and X-Namespace, Authorization optionally). */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-Namespace'] as const;

const CORS_MAX_AGE_SECONDS = 600;
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
const SESSION_PATH = '/session';
const SIGN_OUT_PATH = '/session/signout';

/** A codec failure: the payloads are not ours to decode (unknown key, tampered), answered 422. */
const UNDECODABLE = { status: 422, code: 'undecodable_payload' } as const;

type Operation = 'encode' | 'decode';

/** The last path segment decides the operation (the protocol lets the endpoints sit under any prefix). */
function operationOf(pathname: string): Operation | undefined {
  if (pathname.endsWith('/decode')) return 'decode';
  if (pathname.endsWith('/encode')) return 'encode';
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first.trim() === '' ? undefined : first.trim();
}

function isHttps(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket>).encrypted === true || header(req, 'x-forwarded-proto') === 'https';
}

/** This server's own origin as a browser would name it (its own pages may post to it). */
function ownOrigin(req: IncomingMessage): string | undefined {
  const host = header(req, 'host');
  return host === undefined ? undefined : `${isHttps(req) ? 'https' : 'http'}://${host}`;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: ApiError | { status: number; code: string; message: string }): void {
  const headers = error instanceof ApiError ? error.headers : {};
  const details = error instanceof ApiError ? error.details : {};
  send(res, error.status, { error: error.code, message: error.message, ...details }, headers);
}

/** Reads the body up to `limit` bytes; 413 beyond it. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(header(req, 'content-length') ?? '0');
  if (declared > limit) throw new ApiError('payload_too_large', `request bodies are limited to ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ApiError('payload_too_large', `request bodies are limited to ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A minimal page without scripts: where an operator's browser gets the session cookie the Web UI then sends. */
function sessionPage(body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OrderFlow codec server</title></head>
<body>
<h1>OrderFlow codec server</h1>
${body}
<form method="post" action="${SESSION_PATH}">
<p><label>Admin token (<code>npm run token -- &lt;name&gt; --admin</code>)<br>
<input type="password" name="token" size="60" autocomplete="off" required></label></p>
<p><button type="submit">Sign in</button></p>
</form>
<form method="post" action="${SIGN_OUT_PATH}"><p><button type="submit">Sign out</button></p></form>
<p>Then, in the Temporal Web UI's codec server settings, set this server's URL and tick
<em>Include cross-origin credentials</em>. Open the UI under the same host name as this page
(both <code>localhost</code> or both <code>127.0.0.1</code>): the cookie is <code>SameSite=Strict</code>.</p>
</body></html>
`;
}

/** The session cookie: script-proof, same-site only, `Secure` whenever the request came over https. */
function sessionCookieHeader(req: IncomingMessage, token: string, maxAgeSeconds: number): string {
  const attributes = ['HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${maxAgeSeconds}`];
  if (isHttps(req)) attributes.push('Secure');
  return [`${SESSION_COOKIE}=${token}`, ...attributes].join('; ');
}

const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
};

/** Creates (does not start) the codec server. */
export function createCodecServer(deps: CodecServerDeps): http.Server {
  const { config, logger } = deps;
  const codec = deps.codec ?? createEncryptionCodec(config);
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const allowedOrigins = new Set(config.codecCorsOrigins);
  const namespace = config.temporal.namespace;

  /** CORS headers for an allowed origin; none for requests without one (CLI, curl, same-origin pages). */
  const corsHeaders = (origin: string | undefined): Record<string, string> =>
    origin !== undefined && allowedOrigins.has(origin)
      ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true' }
      : {};

  const preflight = (req: IncomingMessage, res: ServerResponse, origin: string | undefined): void => {
    if (origin === undefined || !allowedOrigins.has(origin)) {
      sendError(res, new ApiError('forbidden', `origin ${origin ?? '(none)'} may not call this codec server`));
      return;
    }
    res.writeHead(204, {
      ...corsHeaders(origin),
      'Access-Control-Allow-Methods': 'POST, GET, OPTIONS',
      'Access-Control-Allow-Headers': CORS_ALLOWED_HEADERS.join(', '),
      'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
    });
    res.end();
  };

  const convert = async (req: IncomingMessage, res: ServerResponse, operation: Operation): Promise<void> => {
    const operator = authenticateOperator(req.headers, config.jwtSecret);
    const requested = header(req, 'x-namespace');
    if (requested === undefined) {
      throw new ApiError('validation_failed', 'the X-Namespace header is required', { field: 'X-Namespace' });
    }
    if (requested !== namespace) {
      throw new ApiError('forbidden', `this codec server serves namespace "${namespace}" only`, {
        field: 'X-Namespace',
      });
    }
    const contentType = header(req, 'content-type') ?? '';
    if (!/^application\/json\b/i.test(contentType)) {
      throw new ApiError('unsupported_media_type', 'send the payloads as Content-Type: application/json');
    }
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req, maxBodyBytes)).toString('utf8'));
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError('invalid_json', 'the body is not valid JSON');
    }
    const payloads = payloadsFromJson(body);
    const converted = operation === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
    logger?.info(`payloads ${operation}d`, { operator: operator.caller.customerId, namespace, count: payloads.length });
    send(res, 200, payloadsToJson(converted));
  };

  const signIn = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const form = new URLSearchParams((await readBody(req, 16 * 1024)).toString('utf8'));
    const authorization = header(req, 'authorization');
    const token = form.get('token')?.trim() || (authorization !== undefined ? bearerToken(authorization) : undefined);
    if (token === undefined) {
      throw new ApiError('validation_failed', 'send the admin token as the form field "token"', { field: 'token' });
    }
    const operator = verifyOperatorToken(token, config.jwtSecret);
    const maxAge = Math.max(0, operator.expiresAt - Math.floor(Date.now() / 1000));
    const cookie = sessionCookieHeader(req, token, maxAge);
    logger?.info('codec session started', { operator: operator.caller.customerId });
    const until = new Date(operator.expiresAt * 1000).toISOString();
    const signedIn = `<p>Signed in as <strong>${escapeHtml(operator.caller.customerId)}</strong> until ${until}.</p>`;
    send(res, 200, sessionPage(signedIn), { ...PAGE_HEADERS, 'Set-Cookie': cookie });
  };

  const signOut = (req: IncomingMessage, res: ServerResponse): void => {
    send(res, 200, sessionPage('<p>Signed out.</p>'), {
      ...PAGE_HEADERS,
      'Set-Cookie': sessionCookieHeader(req, '', 0),
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = header(req, 'origin');
    const pathname = new URL(req.url ?? '/', 'http://codec.invalid').pathname;
    for (const [name, value] of Object.entries(corsHeaders(origin))) res.setHeader(name, value);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');

    if (req.method === 'OPTIONS') return preflight(req, res, origin);
    // A browser page from any other origin is refused before anything runs, even with the operator's cookie.
    if (origin !== undefined && !allowedOrigins.has(origin) && origin !== ownOrigin(req)) {
      throw new ApiError('forbidden', `origin ${origin} may not call this codec server`);
    }

    const operation = operationOf(pathname);
    const allow = (methods: string): never => {
      throw new ApiError(
        'method_not_allowed',
        `${req.method ?? 'this method'} is not allowed here`,
        {},
        {
          Allow: methods,
        },
      );
    };
    if (operation !== undefined) return req.method === 'POST' ? convert(req, res, operation) : allow('POST, OPTIONS');
    if (pathname === '/health') return req.method === 'GET' ? send(res, 200, { status: 'ok' }) : allow('GET');
    if (pathname === SESSION_PATH) {
      if (req.method === 'GET') return send(res, 200, sessionPage(''), PAGE_HEADERS);
      return req.method === 'POST' ? signIn(req, res) : allow('GET, POST');
    }
    if (pathname === SIGN_OUT_PATH) return req.method === 'POST' ? signOut(req, res) : allow('POST');
    throw new ApiError('not_found', `no route ${pathname}: use POST /encode, POST /decode or GET /health`);
  };

  return http.createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof ApiError) return sendError(res, error);
      if (error instanceof PayloadJsonError) {
        return sendError(res, new ApiError('validation_failed', error.message, { field: error.field }));
      }
      if (error instanceof PayloadCodecError) return sendError(res, { ...UNDECODABLE, message: error.message });
      logger?.error('codec request failed', { method: req.method, path: req.url?.split('?')[0], error });
      sendError(res, { status: 500, code: 'internal_error', message: 'internal error' });
    });
  });
}
