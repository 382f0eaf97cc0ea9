/**
 * The one error path of our HTTP processes (the API, the codec server; the relay answers the same codes). Handlers
 * throw `ApiError`s (status + stable code + optional details); `errorHandler` turns every error into
 * `{ error, message, ...details }`. Anything that is not an `ApiError` is a 500 whose details are logged and never
 * shown to the client.
 */
import type { Context, Middleware } from 'koa';
import type { Logger } from '../logger';

/** Every error code our HTTP processes answer with, mapped to its HTTP status in one place. */
export const ERROR_STATUS = {
  validation_failed: 400,
  invalid_json: 400,
  unauthorized: 401,
  invalid_token: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  insufficient_stock: 409,
  stock_limit_exceeded: 409,
  not_cancellable: 409,
  not_in_attention: 409,
  product_exists: 409,
  invalid_status_transition: 409,
  export_not_ready: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unknown_sku: 422,
  undecodable_payload: 422,
  product_unavailable: 422,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Extra fields an error carries next to `error` and `message` (e.g. `field`, `shortages`). */
type ErrorDetails = Record<string, unknown>;

/** An error with a status, a code and details the client may see (`expose` is false for 5xx). */
export class ApiError extends Error {
  readonly status: number;
  readonly expose: boolean;
  /** Response headers to set with the error (e.g. `Retry-After`, `Allow`, `WWW-Authenticate`). */
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = ERROR_STATUS[code];
    this.expose = this.status < 500 || code === 'service_unavailable';
    this.headers = headers;
  }
}

/** 400 naming the offending field (a body path like `items[0].quantity`, a query parameter or a header). */
export function validationError(
  field: string,
  message: string,
  issues?: { field: string; message: string }[],
): ApiError {
  return new ApiError('validation_failed', `${field}: ${message}`, {
    field,
    ...(issues !== undefined && issues.length > 1 ? { issues } : {}),
  });
}

/** 503 with a Retry-After so clients back off; nothing was changed. */
export function serviceUnavailable(message: string, retryAfterSeconds: number): ApiError {
  return new ApiError('service_unavailable', message, {}, { 'Retry-After': String(retryAfterSeconds) });
}

/** PostgreSQL SQLSTATEs of a server going away (admin_shutdown, crash_shutdown, cannot_connect_now). */
const DATABASE_GONE_SQLSTATES = new Set(['57P01', '57P02', '57P03']);
/** Socket errors of a connection that could not be made or was cut. */
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * True when a database call failed because PostgreSQL could not be reached or dropped the connection (a restart, a
 * failover, a terminated session, an exhausted pool), not because of the request: the client may retry, so this is
 * a 503 rather than a 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string') {
    // Class 08: connection exception.
    if (DATABASE_GONE_SQLSTATES.has(code) || code.startsWith('08') || CONNECTION_ERROR_CODES.has(code)) return true;
  }
  if (name === 'KnexTimeoutError') return true; // no pooled connection became free in time
  return typeof message === 'string' && /Connection terminated/i.test(message);
}

function bodyOf(error: ApiError): Record<string, unknown> {
  const { error: _code, message: _message, ...details } = error.details;
  return { error: error.code, message: error.message, ...details };
}

function respond(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
  ctx.body = bodyOf(error);
}

/** Codes of the errors raised by Koa itself or its helpers (`http-errors` with a status), by status. */
const HTTP_ERROR_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, expose } = error as { status?: unknown; expose?: unknown };
  return typeof status === 'number' && expose === true ? status : undefined;
}

/** Options of `errorHandler`. */
export interface ErrorHandlerOptions {
  /** `retryAfterSeconds` of the 503 a lost database connection answers. @default 5 */
  retryAfterSeconds?: number;
  /** What a 404 for an unknown path tells the caller exists, e.g. `use POST /encode or GET /health`. @default none */
  routes?: string;
}

/**
 * The error middleware: first in the chain. Also turns the router's empty 404/405/501 answers into JSON errors so
 * every response has a JSON body. A lost database connection is a 503 with `retryAfterSeconds`.
 */
export function errorHandler(logger: Logger, { retryAfterSeconds = 5, routes }: ErrorHandlerOptions = {}): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined || ctx.body === null) {
        if (ctx.status === 404) {
          const message =
            routes === undefined ? `no route for ${ctx.method} ${ctx.path}` : `no route ${ctx.path}: ${routes}`;
          throw new ApiError('not_found', message);
        }
        if (ctx.status === 405 || ctx.status === 501) {
          const allow = ctx.response.get('Allow');
          throw new ApiError(
            'method_not_allowed',
            `${ctx.method} is not allowed on ${ctx.path}`,
            { allow },
            { Allow: allow },
          );
        }
      }
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status >= 500) logger.warn('request failed', { code: error.code, path: ctx.path, err: error });
        respond(ctx, error);
        return;
      }
      if (isDatabaseUnavailable(error)) {
        logger.warn('database unavailable', { method: ctx.method, path: ctx.path, err: error });
        respond(ctx, serviceUnavailable('the order service is unavailable; retry later', retryAfterSeconds));
        return;
      }
      const status = statusOf(error);
      const code = status !== undefined ? HTTP_ERROR_CODES[status] : undefined;
      if (code !== undefined) {
        respond(ctx, new ApiError(code, (error as Error).message));
        return;
      }
      logger.error('unhandled error', { method: ctx.method, path: ctx.path, err: error });
      respond(ctx, new ApiError('internal_error', 'internal error'));
    }
  };
}
