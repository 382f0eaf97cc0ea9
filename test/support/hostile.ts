/**
 * What the boundary property tests share: hostile text, JWT claims signed by hand (`jsonwebtoken` refuses some), and
 * the oracle of which claims every process must accept, written from docs/authorization.md, not from the code.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { isStorableText } from '../../lib/storable-text';

/** Text a fuzzer sends: mostly short strings, with U+0000, lone surrogates, bidirectional controls and SQL thrown in. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000',
    '\ud800',
    'x\udfff',
    'a\u202Eb',
    '\u2066',
    "' OR 1=1--",
    '%',
    '&',
    '=',
    '+',
    'PAID',
    '1',
    '100',
  ),
);

/** Arbitrary claims around the valid ones: hostile `sub`s, odd roles, expiries of every type. */
export function arbitraryClaims(knownSub: string): fc.Arbitrary<Record<string, unknown>> {
  const sub = fc.oneof(
    hostileText,
    fc.string({ minLength: 120, maxLength: 140 }),
    fc.constantFrom('', knownSub, 'x'.repeat(128), 'x'.repeat(129), '😀'.repeat(64)),
    fc.integer(),
    fc.constant(null),
  );
  const role = fc.oneof(
    fc.constantFrom('customer', 'admin', 'Admin', '', 'admin\u0000'),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const exp = fc.oneof(
    fc.constant(Math.floor(Date.now() / 1000) + 3600),
    fc.constantFrom('9999999999', null, Number.POSITIVE_INFINITY, -1, 1.5),
  );
  return fc
    .record({ sub, role, exp, extra: fc.option(hostileText) }, { requiredKeys: [] })
    .map(({ extra, ...claims }) => ({ ...claims, ...(extra != null ? { extra } : {}) }))
    .map((claims) => JSON.parse(JSON.stringify(claims)) as Record<string, unknown>);
}

/** An HS256 JWT over any payload, signed by hand. */
export function signHs256(payload: Record<string, unknown>, secret: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

/** The oracle: accept when `sub` is 1-128 characters of storable text, `role` customer or admin, `exp` not past. */
export function claimsAcceptable(claims: Record<string, unknown>): boolean {
  return (
    typeof claims.sub === 'string' &&
    claims.sub.length >= 1 &&
    claims.sub.length <= 128 &&
    isStorableText(claims.sub) &&
    (claims.role === 'customer' || claims.role === 'admin') &&
    typeof claims.exp === 'number' &&
    claims.exp > Date.now() / 1000
  );
}
