/**
 * Handshake authentication of the relay: the same HS256 tokens as the API (claims `sub`, `role`, `exp`), read from
 * the Socket.IO handshake `auth: { token }`.
 */
import jwt from 'jsonwebtoken';
import { z } from 'zod';

/** Who a socket belongs to, from its verified token. */
export interface SocketIdentity {
  customerId: string;
  role: 'customer' | 'admin';
}

/** The only algorithm accepted (so `alg: none` and algorithm confusion fail). */
export const TOKEN_ALGORITHM = 'HS256';

const claimsSchema = z.object({
  sub: z.string().min(1).max(128),
  role: z.enum(['customer', 'admin']),
  exp: z.number(),
});

/** Verifies a handshake token; undefined when it is missing, badly signed, expired or lacks a claim. */
export function authenticate(token: unknown, secret: string): SocketIdentity | undefined {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return undefined;
  let payload: unknown;
  try {
    payload = jwt.verify(token, secret, { algorithms: [TOKEN_ALGORITHM], clockTolerance: 5 });
  } catch {
    return undefined;
  }
  const claims = claimsSchema.safeParse(payload);
  return claims.success ? { customerId: claims.data.sub, role: claims.data.role } : undefined;
}

/** Signs a development token (the demo page's `/dev-token` and `npm run watch` use it). */
export function signDevToken(identity: SocketIdentity, secret: string, expiresInSeconds = 12 * 3600): string {
  return jwt.sign({ role: identity.role }, secret, {
    algorithm: TOKEN_ALGORITHM,
    subject: identity.customerId,
    expiresIn: expiresInSeconds,
  });
}
