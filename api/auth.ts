/**
 * Bearer JWT authentication: HS256 only (so `alg: none` and RS/HS confusion fail), an expiry is required, and the
 * claims `sub` (customer id: storable text, 1-128 characters) and `role` (customer | admin) are checked before any
 * handler runs. The relay and the codec server verify tokens with the same function.
 */
import jwt from 'jsonwebtoken';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { ApiError } from './errors';
import { customerIdSchema, MAX_CUSTOMER_ID_LENGTH } from './validation';

/** Who is calling, from the verified token. */
export interface Caller {
  customerId: string;
  role: 'customer' | 'admin';
}

/** Koa state after `requireAuth`. */
export interface AuthState {
  caller: Caller;
}

/** The only algorithm accepted. */
export const JWT_ALGORITHM = 'HS256';

/** The claims a token must carry; others (`iat`, `nbf`, ...) are checked by `jsonwebtoken` or ignored. */
const claimsSchema = z.object({
  sub: customerIdSchema,
  role: z.enum(['customer', 'admin'], { error: 'must be customer or admin' }),
  exp: z.number({ error: 'must be a number (seconds since the epoch)' }),
});

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="orderflow"' };

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

/** Verifies a token and returns the caller, or throws a 401 saying why. */
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

/** Extracts the token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new ApiError('unauthorized', 'missing Authorization: Bearer <token> header', {}, CHALLENGE);
  }
  const match = /^Bearer[ ]+([A-Za-z0-9\-_.=+/]+)\s*$/i.exec(header.trim());
  if (!match?.[1]) throw new ApiError('unauthorized', 'Authorization header must be "Bearer <token>"', {}, CHALLENGE);
  return match[1];
}

/** How many verified tokens `requireAuth` remembers. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Middleware: rejects the request with 401 unless it carries a valid token; sets `ctx.state.caller`. Verifying a JWT
 * costs most of a millisecond, so tokens that verified are remembered (by their exact text, signature included) until
 * they expire; anything else is verified every time.
 */
export function requireAuth(secret: string): Middleware<AuthState> {
  const verified = new Map<string, { caller: Caller; expiresAtMs: number }>();
  return async (ctx, next) => {
    const token = bearerToken(ctx.get('Authorization') || undefined);
    const cached = verified.get(token);
    if (cached !== undefined && cached.expiresAtMs > Date.now()) {
      ctx.state.caller = cached.caller;
    } else {
      const { caller, expiresAt } = verifyTokenWithExpiry(token, secret);
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
      verified.set(token, { caller, expiresAtMs: expiresAt * 1000 });
      ctx.state.caller = caller;
    }
    await next();
  };
}

/** Middleware after `requireAuth`: 403 unless the caller is an admin (catalog, stock, exports, order actions). */
export function requireAdmin(): Middleware<AuthState> {
  return async (ctx, next) => {
    if (ctx.state.caller.role !== 'admin') {
      throw new ApiError('forbidden', `${ctx.method} ${ctx.path} is for admins only`);
    }
    await next();
  };
}

/** Options of a signed token. */
export interface SignTokenOptions {
  role?: Caller['role'];
  /** Lifetime as `jsonwebtoken` understands it (`12h`, `30m`) or seconds. @default '12h' */
  expiresIn?: string | number;
}

/** Signs a token for `customerId` (the token script and the tests use it). */
export function signToken(customerId: string, secret: string, options: SignTokenOptions = {}): string {
  return jwt.sign({ role: options.role ?? 'customer' }, secret, {
    algorithm: JWT_ALGORITHM,
    subject: customerId,
    expiresIn: (options.expiresIn ?? '12h') as jwt.SignOptions['expiresIn'],
  });
}
