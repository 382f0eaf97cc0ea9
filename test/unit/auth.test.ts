import jwt from 'jsonwebtoken';
import { bearerToken, signToken, verifyToken } from '../../lib/auth';
import { ApiError } from '../../lib/http/errors';

const secret = 'unit-secret-0123456789abcdef0123456789';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error);
  }
  return undefined;
}

describe('lib/auth', () => {
  it('when a token is signed by the token helper, then it verifies to its customer and role', () => {
    expect(verifyToken(signToken('cust-1', secret), secret)).toEqual({ customerId: 'cust-1', role: 'customer' });
    expect(verifyToken(signToken('ops', secret, { role: 'admin' }), secret)).toEqual({
      customerId: 'ops',
      role: 'admin',
    });
  });

  it.each([
    ['alg none', () => jwt.sign({ sub: 'x', role: 'admin', exp: 9999999999 }, '', { algorithm: 'none' })],
    [
      'HS512 with the right secret',
      () => jwt.sign({ role: 'customer' }, secret, { algorithm: 'HS512', subject: 'x', expiresIn: 60 }),
    ],
    ['another secret', () => signToken('x', 'another-secret-0123456789abcdef0123')],
    [
      'an expired token',
      () => jwt.sign({ role: 'customer', exp: Math.floor(Date.now() / 1000) - 60 }, secret, { subject: 'x' }),
    ],
    ['no expiry', () => jwt.sign({ role: 'customer' }, secret, { subject: 'x' })],
    ['an unknown role', () => jwt.sign({ role: 'root' }, secret, { subject: 'x', expiresIn: 60 })],
    ['no subject', () => jwt.sign({ role: 'customer' }, secret, { expiresIn: 60 })],
    ['a subject over 128 characters', () => signToken('x'.repeat(129), secret)],
    ['not a JWT', () => 'abc.def.ghi'],
  ])('when the token has %s, then it is refused with 401 invalid_token', (_name, make) => {
    expect(codeOf(() => verifyToken(make(), secret))).toMatch(/^401 invalid_token: /);
  });

  it('when the token expired, then the message says so', () => {
    const expired = jwt.sign({ role: 'customer', exp: Math.floor(Date.now() / 1000) - 60 }, secret, { subject: 'x' });
    expect(codeOf(() => verifyToken(expired, secret))).toBe('401 invalid_token: token expired');
  });

  it.each([[undefined], [''], ['Basic dXNlcjpwYXNz'], ['Bearer'], ['Bearer a b'], ['Token abc']])(
    'when the Authorization header is %p, then it is refused with 401 unauthorized',
    (header) => {
      expect(codeOf(() => bearerToken(header))).toMatch(/^401 unauthorized: /);
    },
  );

  it('when the scheme is written in any case, then the token is extracted', () => {
    expect(bearerToken('bearer abc.def.ghi')).toBe('abc.def.ghi');
  });
});
