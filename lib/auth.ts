/**
 * Bearer JWT tokens, one rule for every process: HS256 only (so `alg: none` and RS/HS confusion fail), an expiry is
 * required, and the claims `sub` (customer id: storable text, 1-128 characters) and `role` (customer | admin) are
 * checked. The API, the relay and the codec server verify tokens here; the token script and the tests sign them here.
 */
import type { IncomingMessage } from 'node:http';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { ApiError } from './http/errors';
import { singleHeader } from './http/headers';
import { storableText } from './text-schema';

/** Who is calling, from the verified token. */
export interface Caller {
  customerId: string;
  role: 'customer' | 'admin';
}

/** Longest customer id (the JWT `sub`, `orders.customer_id varchar(128)`), in characters. */
const MAX_CUSTOMER_ID_LENGTH = 128;

/** A customer id: the JWT `sub`, and the admins' `?customerId=` filter of the API. */
export const customerIdSchema = storableText({ max: MAX_CUSTOMER_ID_LENGTH });

/** The only algorithm accepted. */
const JWT_ALGORITHM = 'HS256';

/** The claims a token must carry; others (`iat`, `nbf`, ...) are checked by `jsonwebtoken` or ignored. */
const claimsSchema = z.object({
  sub: customerIdSchema,
  role: z.enum(['customer', 'admin'], { error: 'must be customer or admin' }),
  exp: z.number({ error: 'must be a number (seconds since the epoch)' }),
});

/** The `WWW-Authenticate` header every 401 of a bearer-token check carries. */
export const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="orderflow"' };

function invalidToken(message: string): ApiError {
  return new ApiError(
    'invalid_token',
    message,
    {},
    { 'WWW-Authenticate': 'Bearer realm="orderflow", error="invalid_token"' },
  );
}

/** A verified token: who is calling and until when (`exp`, seconds since the epoch). */
export interface VerifiedToken {
  caller: Caller;
  expiresAt: number;
}

/** Verifies a token and returns the caller, or throws a 401 `invalid_token` saying why. */
export function verifyToken(token: string, secret: string): Caller {
  return verifyTokenWithExpiry(token, secret).caller;
}

/** `verifyToken`, also returning the token's expiry (for callers that remember verified tokens). */
export function verifyTokenWithExpiry(token: string, secret: string): VerifiedToken {
  let payload: unknown;
  try {
    payload = jwt.verify(token, secret, { algorithms: [JWT_ALGORITHM], clockTolerance: 5 });
  } catch (error) {
    if (error instanceof jwt.TokenExpiredError) throw invalidToken('token expired');
    if (error instanceof jwt.NotBeforeError) throw invalidToken('token not yet valid');
    throw invalidToken(`token rejected: ${error instanceof Error ? error.message : 'invalid'}`);
  }
  const claims = claimsSchema.safeParse(payload, { reportInput: true });
  if (!claims.success) {
    const issue = claims.error.issues[0];
    const claim = issue?.path.join('.') || 'payload';
    const why = issue === undefined || issue.input === undefined ? 'is missing' : issue.message;
    throw invalidToken(`token claim ${claim} ${why} (sub: 1-${MAX_CUSTOMER_ID_LENGTH} characters, role, exp)`);
  }
  return { caller: { customerId: claims.data.sub, role: claims.data.role }, expiresAt: claims.data.exp };
}

/**
 * The request's `Authorization` header, or undefined; 401 `unauthorized` (with `challenge` as its `WWW-Authenticate`)
 * when it comes on two lines: Node keeps the first silently, so which one counts is ambiguous (lib/http/headers.ts).
 */
export function authorizationHeader(
  req: IncomingMessage,
  challenge: Record<string, string> = BEARER_CHALLENGE,
): string | undefined {
  return singleHeader(
    req,
    'Authorization',
    () => new ApiError('unauthorized', 'Authorization header must be given once', {}, challenge),
  );
}

/** Extracts the token of an `Authorization: Bearer <token>` header; 401 `unauthorized` when there is none. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new ApiError('unauthorized', 'missing Authorization: Bearer <token> header', {}, BEARER_CHALLENGE);
  }
  const match = /^Bearer[ ]+([A-Za-z0-9\-_.=+/]+)\s*$/i.exec(header.trim());
  if (!match?.[1])
    throw new ApiError('unauthorized', 'Authorization header must be "Bearer <token>"', {}, BEARER_CHALLENGE);
  return match[1];
}

/** Options of a signed token. */
export interface SignTokenOptions {
  role?: Caller['role'];
  /** Lifetime as `jsonwebtoken` understands it (`12h`, `30m`) or seconds. @default '12h' */
  expiresIn?: string | number;
}

/** Signs a token for `customerId` (the token script, the relay's demo tokens, bench, chaos and the tests use it). */
export function signToken(customerId: string, secret: string, options: SignTokenOptions = {}): string {
  return jwt.sign({ role: options.role ?? 'customer' }, secret, {
    algorithm: JWT_ALGORITHM,
    subject: customerId,
    expiresIn: (options.expiresIn ?? '12h') as jwt.SignOptions['expiresIn'],
  });
}
