/**
 * Handshake authentication of the relay: the API's tokens (`lib/auth.ts`: HS256 only, `exp` required, claims `sub`
 * and `role`), read from the Socket.IO handshake `auth: { token }`.
 */
import { verifyToken, type Caller } from '../lib/auth';

/** Who a socket belongs to, from its verified token. */
export type SocketIdentity = Caller;

/** Verifies a handshake token; undefined when it is missing, badly signed, expired or lacks a claim. */
export function authenticate(token: unknown, secret: string): SocketIdentity | undefined {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return undefined;
  try {
    return verifyToken(token, secret);
  } catch {
    return undefined;
  }
}
