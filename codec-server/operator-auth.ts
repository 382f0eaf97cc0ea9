/**
 * Who may read decrypted payloads: an admin of OrderFlow, proven by the API's own JWT (HS256, `role: admin`), sent
 * either as `Authorization: Bearer <token>` (CLI, curl, a UI served over https with "Pass access token") or as the
 * session cookie that `POST /session` sets, which the Temporal Web UI sends when "Include cross-origin credentials"
 * is ticked in its codec settings.
 */
import type { IncomingMessage } from 'node:http';
import { authorizationHeader, bearerToken, verifyTokenWithExpiry, type VerifiedToken } from '../lib/auth';
import { ApiError } from '../lib/http/errors';

/** Name of the session cookie holding an operator's admin token. */
export const SESSION_COOKIE = 'orderflow_codec_session';

const REALM = 'Bearer realm="orderflow-codec"';

/** The session cookie's value in a `Cookie` header, if any. */
export function sessionCookie(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const separator = part.indexOf('=');
    if (separator < 0) continue;
    if (part.slice(0, separator).trim() === SESSION_COOKIE) {
      const value = part.slice(separator + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/** An admin token's caller and its expiry (seconds since the epoch), after full verification. */
export type Operator = VerifiedToken;

/** Verifies that `token` is a valid admin token; 401 when it is not valid, 403 when it is not an admin's. */
export function verifyOperatorToken(token: string, secret: string): Operator {
  const { caller, expiresAt } = verifyTokenWithExpiry(token, secret);
  if (caller.role !== 'admin') {
    throw new ApiError(
      'forbidden',
      'reading payloads needs an admin token (npm run token -- <name> --admin)',
      {},
      { 'WWW-Authenticate': `${REALM}, error="insufficient_scope"` },
    );
  }
  return { caller, expiresAt };
}

/** The `WWW-Authenticate` header of the codec server's 401s. */
export const OPERATOR_CHALLENGE = { 'WWW-Authenticate': REALM };

/**
 * Authenticates a codec request: the Authorization header if present (never falls back past a bad one), else the
 * cookie. Throws 401 (also for a repeated Authorization header) or 403 (not an admin).
 */
export function authenticateOperator(req: IncomingMessage, secret: string): Operator {
  const authorization = authorizationHeader(req, OPERATOR_CHALLENGE);
  const token = authorization !== undefined ? bearerToken(authorization) : sessionCookie(req.headers.cookie);
  if (token === undefined) {
    throw new ApiError(
      'unauthorized',
      'missing Authorization: Bearer <admin token> header (or sign in at /session for the Web UI)',
      {},
      OPERATOR_CHALLENGE,
    );
  }
  return verifyOperatorToken(token, secret);
}
