/**
 * The codec server (Temporal's remote codec protocol): `POST /encode` and `POST /decode` run payloads through the
 * same encryption codec as our workers and clients, so an authorised operator reads decrypted payloads in the
 * Temporal Web UI (`--ui-codec-endpoint`, `TEMPORAL_CODEC_ENDPOINT`) and CLI (`--codec-endpoint`, `--codec-auth`).
 *
 * Every codec request needs an admin token (operator-auth.ts); an `X-Namespace` header, when sent, must name our
 * namespace (the Temporal CLI sends none unless `--namespace` is given: then ours is assumed); CORS
 * admits the configured Web UI origins only, with credentials, and any other browser origin is refused outright.
 * Nothing is cached (`Cache-Control: no-store`), and every decode is logged with the operator who asked. A Koa app
 * with the API's error path (`lib/http/errors.ts`); `createCodecServer` never listens: `codec-server/main.ts` and
 * the tests do.
 */
import http from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { PayloadCodec } from '@temporalio/common';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { authorizationHeader, bearerToken } from '../lib/auth';
import { createEncryptionCodec, PayloadCodecError } from '../lib/codec';
import type { Config } from '../lib/config';
import { readBody, readJsonBody } from '../lib/http/body';
import { cors, originAllowed } from '../lib/http/cors';
import { ApiError, errorHandler } from '../lib/http/errors';
import { singleHeader } from '../lib/http/headers';
import type { Logger } from '../lib/logger';
import { authenticateOperator, OPERATOR_CHALLENGE, SESSION_COOKIE, verifyOperatorToken } from './operator-auth';
import { payloadsFromJson, payloadsToJson } from './payload-json';

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
  logger: Logger;
  /**
   * Largest request body accepted, in bytes (413 above it). Temporal caps one payload at 2 MiB by default.
   * @default 8 MiB
   */
  maxBodyBytes?: number;
}

/** Request headers a browser may send (the Web UI sends Content-Type and X-Namespace, Authorization optionally). */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-Namespace'] as const;

const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Largest sign-in form (one token). */
const MAX_FORM_BYTES = 16 * 1024;
const SESSION_PATH = '/session';
const SIGN_OUT_PATH = '/session/signout';

type Operation = 'encode' | 'decode';

/** Paths of an operation: the protocol lets the endpoints sit under any prefix (`/decode`, `/orderflow/decode`). */
const operationPaths = (operation: Operation): string => `{/*prefix}/${operation}`;

function isHttps(ctx: Context): boolean {
  return (ctx.req.socket as Partial<TLSSocket>).encrypted === true || ctx.get('X-Forwarded-Proto').trim() === 'https';
}

/** This server's own origin as a browser would name it (its own pages may post to it). */
function ownOrigin(ctx: Context): string | undefined {
  const host = ctx.get('Host').trim();
  return host === '' ? undefined : `${isHttps(ctx) ? 'https' : 'http'}://${host}`;
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

const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
};

/** Answers the session page with `body`, setting the session cookie to `cookie` when given. */
function sendPage(ctx: Context, body: string, cookie?: { token: string; maxAgeSeconds: number }): void {
  ctx.set(PAGE_HEADERS);
  if (cookie !== undefined) {
    // Script-proof, same-site only, `Secure` whenever the request came over https.
    const attributes = ['HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${cookie.maxAgeSeconds}`];
    if (isHttps(ctx)) attributes.push('Secure');
    ctx.set('Set-Cookie', [`${SESSION_COOKIE}=${cookie.token}`, ...attributes].join('; '));
  }
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = sessionPage(body);
}

/** Creates (does not start) the codec server. */
export function createCodecServer(deps: CodecServerDeps): http.Server {
  const { config, logger } = deps;
  const codec = deps.codec ?? createEncryptionCodec(config);
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const allowedOrigin = originAllowed(config.codecCorsOrigins);
  const namespace = config.temporal.namespace;

  const convert = async (ctx: Context, operation: Operation): Promise<void> => {
    const operator = authenticateOperator(ctx.req, config.jwtSecret);
    const requested = (
      singleHeader(
        ctx.req,
        'X-Namespace',
        () => new ApiError('validation_failed', 'the X-Namespace header must come once', { field: 'X-Namespace' }),
      ) ?? ''
    ).trim();
    // The Temporal CLI sends X-Namespace only with an explicit `--namespace`; the Web UI always sends it.
    if (requested !== '' && requested !== namespace) {
      throw new ApiError('forbidden', `this codec server serves namespace "${namespace}" only`, {
        field: 'X-Namespace',
      });
    }
    const payloads = payloadsFromJson(await readJsonBody(ctx, maxBodyBytes));
    const converted = await (operation === 'decode' ? codec.decode(payloads) : codec.encode(payloads)).catch(
      (error: unknown) => {
        // Not ours to decode (unknown key, tampered with).
        throw error instanceof PayloadCodecError ? new ApiError('undecodable_payload', error.message) : error;
      },
    );
    logger.info(`payloads ${operation}d`, { operator: operator.caller.customerId, namespace, count: payloads.length });
    ctx.body = payloadsToJson(converted);
  };

  const signIn = async (ctx: Context): Promise<void> => {
    const form = new URLSearchParams((await readBody(ctx, MAX_FORM_BYTES)).toString('utf8'));
    const authorization = authorizationHeader(ctx.req, OPERATOR_CHALLENGE)?.trim() ?? '';
    const token = form.get('token')?.trim() || (authorization !== '' ? bearerToken(authorization) : undefined);
    if (token === undefined) {
      throw new ApiError('validation_failed', 'send the admin token as the form field "token"', { field: 'token' });
    }
    const operator = verifyOperatorToken(token, config.jwtSecret);
    const maxAgeSeconds = Math.max(0, operator.expiresAt - Math.floor(Date.now() / 1000));
    logger.info('codec session started', { operator: operator.caller.customerId });
    const until = new Date(operator.expiresAt * 1000).toISOString();
    const signedIn = `<p>Signed in as <strong><bdi>${escapeHtml(operator.caller.customerId)}</bdi></strong> until ${until}.</p>`;
    sendPage(ctx, signedIn, { token, maxAgeSeconds });
  };

  const router = new Router();
  for (const operation of ['encode', 'decode'] as const) {
    router.post(operationPaths(operation), (ctx) => convert(ctx, operation));
  }
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get(SESSION_PATH, (ctx) => sendPage(ctx, ''));
  router.post(SESSION_PATH, signIn);
  router.post(SIGN_OUT_PATH, (ctx) => sendPage(ctx, '<p>Signed out.</p>', { token: '', maxAgeSeconds: 0 }));

  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(async (ctx, next) => {
    ctx.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    await next();
  });
  // Preflights of the Web UI's origins are answered here; a request without an Origin (CLI, curl) gets no CORS headers.
  app.use(
    cors({
      origins: config.codecCorsOrigins,
      allowMethods: ['POST', 'GET', 'OPTIONS'],
      allowHeaders: CORS_ALLOWED_HEADERS,
      credentials: true,
    }),
  );
  app.use(errorHandler(logger, { routes: 'use POST /encode, POST /decode or GET /health' }));
  app.use(async (ctx, next) => {
    // A browser page from any other origin is refused before anything runs, even with the operator's cookie.
    const origin = ctx.get('Origin');
    if (ctx.method === 'OPTIONS' && allowedOrigin(origin)) {
      ctx.status = 204; // not a preflight (no Access-Control-Request-Method): nothing to allow
      return;
    }
    if (ctx.method === 'OPTIONS' || (origin !== '' && !allowedOrigin(origin) && origin !== ownOrigin(ctx))) {
      throw new ApiError('forbidden', `origin ${origin || '(none)'} may not call this codec server`);
    }
    await next();
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  const handle = app.callback();
  return http.createServer((req, res) => void handle(req, res));
}
