import { requireAuth } from '../../api/auth';
import { signToken } from '../../lib/auth';
import { ApiError } from '../../lib/http/errors';

const secret = 'unit-secret-0123456789abcdef0123456789';

describe('requireAuth', () => {
  async function run(middleware: ReturnType<typeof requireAuth>, header: string): Promise<unknown> {
    // requireAuth reads the header through req.headersDistinct (one value per header line).
    const ctx = { req: { headersDistinct: { authorization: [header] } }, state: {} as { caller?: unknown } };
    await middleware(ctx as never, () => Promise.resolve());
    return ctx.state.caller;
  }

  it('when a verified token comes again, then it is accepted; a token with another signature is still refused', async () => {
    const middleware = requireAuth(secret);
    const token = signToken('cust-9', secret);
    expect(await run(middleware, `Bearer ${token}`)).toEqual({ customerId: 'cust-9', role: 'customer' });
    expect(await run(middleware, `Bearer ${token}`)).toEqual({ customerId: 'cust-9', role: 'customer' });
    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${'A'.repeat(43)}`;
    await expect(run(middleware, `Bearer ${forged}`)).rejects.toThrow(ApiError);
  });

  it('when a remembered token expires, then it is refused', async () => {
    jest.useFakeTimers({ now: Date.now(), doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const middleware = requireAuth(secret);
      const token = signToken('cust-9', secret, { expiresIn: 60 });
      await run(middleware, `Bearer ${token}`);
      jest.setSystemTime(Date.now() + 120_000);
      await expect(run(middleware, `Bearer ${token}`)).rejects.toThrow('token expired');
    } finally {
      jest.useRealTimers();
    }
  });
});
