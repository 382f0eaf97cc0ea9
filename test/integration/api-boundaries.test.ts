/**
 * The API's boundaries beyond the body (issue 14): text PostgreSQL cannot store, from any edge; query parameters on
 * every route; JWT claims; and money at its edges. The three examples of the issue are tests here, and property
 * tests (fast-check) drive arbitrary query strings through every route and arbitrary claims through signed tokens.
 * Invariants everywhere: never a 5xx, a refused request changes no row, and every answer is documented.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import jwt from 'jsonwebtoken';
import { API_OPERATIONS } from '../../api/openapi';
import { TABLES } from '../../lib/db';
import { checkInvariants } from '../../lib/invariants';
import { MAX_REASON_LENGTH } from '../../lib/storable-text';
import {
  boundaryWorld,
  orderBody,
  snapshot,
  undocumentedExchanges,
  waitForOrderStatus,
  type Exchange,
} from '../support/api-helpers';
import { arbitraryClaims, claimsAcceptable, hostileText, signHs256 } from '../support/hostile';
import { insertProducts, uniqueSku } from '../support/services';

const { h, sku, alice, aliceOrderId } = boundaryWorld('bounds', { stock: 1000, priceCents: 1250 });

interface ErrorBody {
  error?: string;
  field?: string;
  message?: string;
}

interface OrderView {
  orderId: string;
  status: string;
  totalCents: number;
  payment: { status: string; amountCents: number } | null;
  events: { status: string; detail: Record<string, unknown> }[];
}

/** Places a real order for `customer` and returns its id (201 RESERVED). */
async function placeOrder(customer: string, token = 'tok_ok', items = [{ sku, quantity: 1 }]): Promise<string> {
  const response = await h.request('POST', '/orders', { token: h.token(customer), body: orderBody(items, token) });
  expect(response.status).toBe(201);
  return (response.body as { orderId: string }).orderId;
}

async function orderView(customer: string, orderId: string): Promise<OrderView> {
  const response = await h.request('GET', `/orders/${orderId}`, { token: h.token(customer) });
  expect(response.status).toBe(200);
  return response.body as OrderView;
}

describe('the examples of issue 14', () => {
  it.each([
    ['U+0000', 'stop\u0000now', 'must not contain the NUL character (U+0000)'],
    ['a lone surrogate', 'stop\ud800now', 'must not contain unpaired UTF-16 surrogates'],
    [
      'a right-to-left override',
      'refund \u202Edneffo',
      'must not contain bidirectional control characters (found U+202E)',
    ],
  ])(
    'when a tok_slow order is cancelled with a reason holding %s, then the cancel is a 400 naming reason and the order completes untouched',
    async (_label, reason, message) => {
      const customer = `cust-slow-${randomUUID().slice(0, 8)}`;
      const orderId = await placeOrder(customer, 'tok_slow');
      const cancel = await h.request('POST', `/orders/${orderId}/cancel`, {
        token: h.token(customer),
        body: { reason },
      });
      expect(cancel.status).toBe(400);
      expect(cancel.body).toEqual({ error: 'validation_failed', field: 'reason', message: `reason: ${message}` });
      // The cancel never reached the saga: the order is paid and completed, and no event carries the reason.
      await waitForOrderStatus(h.db, orderId, ['COMPLETED', 'CANCELLED', 'FAILED', 'NEEDS_ATTENTION']);
      const view = await orderView(customer, orderId);
      expect(view.status).toBe('COMPLETED');
      expect(view.payment).toMatchObject({ status: 'approved', amountCents: 1250 });
      expect(view.events.map((event) => event.status)).not.toContain('CANCELLED');
    },
  );

  it('when a validly signed token holds U+0000 in sub, then GET /orders is a 401 naming the claim, not a 500', async () => {
    const token = jwt.sign({ role: 'customer' }, h.config.jwtSecret, { subject: 'ali\u0000ce', expiresIn: 60 });
    const before = await snapshot(h.db);
    for (const [method, path] of [
      ['GET', '/orders'],
      ['GET', `/orders/${aliceOrderId}`],
      ['POST', `/orders/${aliceOrderId}/cancel`],
    ] as const) {
      const response = await h.request(method, path, { token });
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({
        error: 'invalid_token',
        message: expect.stringMatching(/claim sub .*U\+0000/),
      });
    }
    const post = await h.request('POST', '/orders', { token, body: orderBody([{ sku, quantity: 1 }]) });
    expect(post.status).toBe(401);
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('when POST /orders carries ?dryRun=true, then it is a 400 naming dryRun and no order is placed', async () => {
    const customer = `cust-dry-${randomUUID().slice(0, 8)}`;
    const before = await snapshot(h.db);
    const response = await h.request('POST', '/orders?dryRun=true', {
      token: h.token(customer),
      body: orderBody([{ sku, quantity: 1 }]),
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: 'validation_failed',
      field: 'dryRun',
      message: 'dryRun: unknown query parameter',
    });
    expect(await snapshot(h.db)).toEqual(before);
    expect(await h.db(TABLES.orders).where({ customer_id: customer }).count<{ count: string }[]>()).toEqual([
      { count: '0' },
    ]);
  });

  it('when a running order is cancelled with ?force=true, then it is a 400 naming force and the order completes', async () => {
    const customer = `cust-force-${randomUUID().slice(0, 8)}`;
    const orderId = await placeOrder(customer, 'tok_slow');
    const cancel = await h.request('POST', `/orders/${orderId}/cancel?force=true`, { token: h.token(customer) });
    expect(cancel.status).toBe(400);
    expect(cancel.body).toMatchObject({ error: 'validation_failed', field: 'force' });
    await waitForOrderStatus(h.db, orderId, ['COMPLETED', 'CANCELLED', 'FAILED', 'NEEDS_ATTENTION']);
    expect((await orderView(customer, orderId)).status).toBe('COMPLETED');
  });

  it('when an order is read with ?expand=payment, then it is a 400 naming expand', async () => {
    const response = await h.request('GET', `/orders/${aliceOrderId}?expand=payment`, { token: h.token(alice) });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: 'validation_failed', field: 'expand' });
  });
});

describe('storable text at every edge', () => {
  const cases: {
    name: string;
    method: string;
    path: string;
    field: string;
    body?: unknown;
    headers?: Record<string, string>;
  }[] = [
    {
      name: 'a cancel reason of 201 characters',
      method: 'POST',
      path: 'cancel',
      field: 'reason',
      body: { reason: 'r'.repeat(201) },
    },
    {
      // 200 code points but 201 UTF-16 code units: the saga would cut it, so the boundary counts code units too.
      name: 'a cancel reason of 199 letters and an emoji',
      method: 'POST',
      path: 'cancel',
      field: 'reason',
      body: { reason: `${'r'.repeat(199)}\u{1F600}` },
    },
    {
      name: 'a payment token with U+0000',
      method: 'POST',
      path: '/orders',
      field: 'payment.token',
      body: { items: [{ sku: 'A', quantity: 1 }], payment: { token: 'tok\u0000ok' } },
    },
    {
      name: 'a SKU with a lone surrogate',
      method: 'POST',
      path: '/orders',
      field: 'items[0].sku',
      body: { items: [{ sku: 'A\udc00', quantity: 1 }], payment: { token: 'tok_ok' } },
    },
    {
      name: 'an Idempotency-Key with a tab',
      method: 'POST',
      path: '/orders',
      field: 'Idempotency-Key',
      body: orderBody([{ sku: 'A', quantity: 1 }]),
      headers: { 'idempotency-key': 'key\tone' },
    },
    {
      name: 'an unknown body field named with U+0000',
      method: 'POST',
      path: 'cancel',
      field: 'x\u0000',
      body: { 'x\u0000': 1 },
    },
    { name: 'U+0000 in a query value', method: 'GET', path: '/orders?cursor=%00', field: 'cursor' },
    {
      name: "U+0000 in an admin's customerId filter",
      method: 'GET',
      path: '/orders?customerId=a%00b',
      field: 'customerId',
    },
    { name: 'U+0000 in a query parameter name', method: 'GET', path: '/orders?a%00b=1', field: 'query' },
    { name: 'an empty query parameter name', method: 'GET', path: '/products?=1', field: 'query' },
  ];

  it.each(cases)(
    'when a request carries $name, then it is a 400 naming the offending field and nothing changes',
    async (c) => {
      const before = await snapshot(h.db);
      const path = c.path === 'cancel' ? `/orders/${aliceOrderId}/cancel` : c.path;
      const response = await h.request(c.method, path, {
        token: h.token('ops', { role: 'admin' }),
        ...(c.body !== undefined ? { body: c.body } : {}),
        ...(c.headers !== undefined ? { headers: c.headers } : {}),
      });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ error: 'validation_failed', field: c.field });
      expect((response.body as ErrorBody).message).toMatch(/^.+: /);
      expect(await snapshot(h.db)).toEqual(before);
    },
  );

  it('when a reason of exactly the limit is sent, then it is accepted (the cap is MAX_REASON_LENGTH)', async () => {
    const customer = `cust-cap-${randomUUID().slice(0, 8)}`;
    const orderId = await placeOrder(customer, 'tok_slow');
    const reason = `${'é'.repeat(MAX_REASON_LENGTH - 2)}😀`;
    const cancel = await h.request('POST', `/orders/${orderId}/cancel`, { token: h.token(customer), body: { reason } });
    expect(cancel.status).toBe(202);
    await waitForOrderStatus(h.db, orderId, ['CANCELLED']);
    const row = await h.db(TABLES.orders).where({ id: orderId }).first<{ failure_reason: string | null }>();
    expect(row.failure_reason).toBe(reason);
  });
});

/** Percent-encodes every UTF-8 byte of `text`, so U+0000 and any other code point reach the server as sent. */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
}

/** A documented path of `op` with Alice's order for `:id`. */
const concretePath = (path: string): string => path.replace(':id', aliceOrderId);

describe('query parameters on every route', () => {
  it('when each documented route is called with an unknown parameter, then it is a 400 naming it', async () => {
    const unanswered: string[] = [];
    for (const op of API_OPERATIONS) {
      const response = await h.request(op.method.toUpperCase(), `${concretePath(op.path)}?bogus=1`, {
        token: h.token(alice),
        ...(op.method === 'post' ? { body: orderBody([{ sku, quantity: 1 }]) } : {}),
      });
      const body = response.body as ErrorBody;
      if (response.status !== 400 || body.field !== 'bogus')
        unanswered.push(`${op.method} ${op.path}: ${response.status}`);
    }
    expect(unanswered).toEqual([]);
  });

  it('when arbitrary query strings hit every route, then none is a 5xx, unknown names are a 400 naming one, and no row changes', async () => {
    const known = new Map<string, Set<string>>(
      API_OPERATIONS.map((op) => [
        `${op.method} ${op.path}`,
        new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name)),
      ]),
    );
    const names = fc.oneof(
      fc.constantFrom(
        'status',
        'limit',
        'cursor',
        'customerId',
        'dryRun',
        'force',
        'expand',
        '__proto__',
        'constructor',
      ),
      hostileText,
    );
    const query = fc.array(fc.tuple(names, hostileText), { minLength: 1, maxLength: 4 });
    const baseline = await snapshot(h.db);
    const exchanges: Exchange[] = [];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...API_OPERATIONS), query, fc.boolean(), async (op, pairs, admin) => {
        const queryString = pairs.map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`).join('&');
        const response = await h.request(op.method.toUpperCase(), `${concretePath(op.path)}?${queryString}`, {
          token: h.token(alice, admin ? { role: 'admin' } : {}),
          ...(op.method === 'post' ? { body: orderBody([{ sku, quantity: 1 }]) } : {}),
        });
        exchanges.push(response);
        expect(response.status).toBeLessThan(500);
        const accepted = known.get(`${op.method} ${op.path}`) ?? new Set<string>();
        // The names as the server decodes them: UTF-8 has no lone surrogates, they arrive as U+FFFD.
        const sent = pairs.map(([name]) => Buffer.from(name, 'utf8').toString('utf8'));
        if (sent.some((name) => !accepted.has(name))) {
          expect(response.status).toBe(400);
          const field = (response.body as ErrorBody).field ?? '';
          // Any offending parameter may be the one named (or `query` for an unusable name).
          expect(field === 'query' || sent.includes(field)).toBe(true);
        }
        expect(await snapshot(h.db)).toEqual(baseline);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 400), seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000) },
    );
    expect(undocumentedExchanges(exchanges)).toEqual([]);
  });
});

describe('JWT claims', () => {
  it('when tokens with arbitrary claims are signed with the right secret, then each is 200/404 or 401 as the claims say, never a 5xx, and no row changes', async () => {
    const baseline = await snapshot(h.db);
    const exchanges: Exchange[] = [];
    await fc.assert(
      fc.asyncProperty(
        arbitraryClaims(alice),
        fc.constantFrom('/orders', `/orders/${aliceOrderId}`),
        async (claims, path) => {
          const response = await h.request('GET', path, { token: signHs256(claims, h.config.jwtSecret) });
          exchanges.push(response);
          expect(response.status).toBeLessThan(500);
          if (!claimsAcceptable(claims)) {
            expect(response.status).toBe(401);
            expect((response.body as ErrorBody).error).toBe('invalid_token');
          } else {
            const own = path === '/orders' || claims.role === 'admin' || claims.sub === alice;
            expect(response.status).toBe(own ? 200 : 404);
          }
          expect(await snapshot(h.db)).toEqual(baseline);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300), seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000) },
    );
    expect(undocumentedExchanges(exchanges)).toEqual([]);
  });
});

describe('money at its edges', () => {
  it.each([
    ['one cent', 1, 1],
    ['a total above 2^31 cents', 2 ** 31 - 1, 3],
  ])(
    'when an order of %s completes, then every read answers the exact amount',
    async (_label, priceCents, quantity) => {
      const pricey = uniqueSku('money');
      await insertProducts(h.db, [{ sku: pricey, stock: 10, priceCents }]);
      const customer = `cust-money-${randomUUID().slice(0, 8)}`;
      const expected = priceCents * quantity;
      const post = () =>
        h.request('POST', '/orders', {
          token: h.token(customer),
          body: orderBody([{ sku: pricey, quantity }]),
          headers: { 'idempotency-key': `money-${quantity}` },
        });
      const created = await post();
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ totalCents: expected });
      const { orderId } = created.body as { orderId: string };
      await waitForOrderStatus(h.db, orderId, ['COMPLETED', 'FAILED', 'NEEDS_ATTENTION', 'CANCELLED']);
      const view = await orderView(customer, orderId);
      expect(view).toMatchObject({ status: 'COMPLETED', totalCents: expected });
      expect(view.payment).toMatchObject({ status: 'approved', amountCents: expected });
      const list = await h.request('GET', '/orders', { token: h.token(customer) });
      expect((list.body as { orders: { totalCents: number }[] }).orders).toEqual([
        expect.objectContaining({ orderId, totalCents: expected }),
      ]);
      // The stored bigint is the exact total; the repeat of the finished keyed order is answered from that row.
      const stored = await h.db(TABLES.orders).where({ id: orderId }).first<{ total_cents: string }>();
      expect(stored.total_cents).toBe(String(expected));
      const repeat = await post();
      expect(repeat.status).toBe(201);
      expect(repeat.body).toMatchObject({ orderId, status: 'COMPLETED', totalCents: expected });
      expect(await checkInvariants(h.db, { orderIds: [orderId] })).toEqual([]);
    },
  );
});

describe('zero-total orders', () => {
  it('when every line is priced 0, then the order completes without a charge, its stock committed', async () => {
    const free = uniqueSku('free');
    await insertProducts(h.db, [{ sku: free, stock: 10, priceCents: 0 }]);
    const customer = `cust-free-${randomUUID().slice(0, 8)}`;
    const created = await h.request('POST', '/orders', {
      token: h.token(customer),
      body: orderBody([{ sku: free, quantity: 2 }]),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'RESERVED', totalCents: 0 });
    const { orderId } = created.body as { orderId: string };
    await waitForOrderStatus(h.db, orderId, ['COMPLETED', 'FAILED', 'NEEDS_ATTENTION', 'CANCELLED']);
    const view = await orderView(customer, orderId);
    expect(view).toMatchObject({ status: 'COMPLETED', totalCents: 0, payment: null });
    expect(view.events.map((event) => event.status)).toEqual(['PENDING', 'RESERVED', 'COMPLETED']);
    expect(await h.db(TABLES.payments).where({ order_id: orderId }).count<{ count: string }[]>()).toEqual([
      { count: '0' },
    ]);
    expect(await h.db(TABLES.products).where({ sku: free }).first<{ stock: number }>('stock')).toEqual({ stock: 8 });
    expect(
      await h.db(TABLES.stockReservations).where({ order_id: orderId }).select<{ status: string }[]>('status'),
    ).toEqual([{ status: 'committed' }]);
    expect(await checkInvariants(h.db, { orderIds: [orderId], initialStock: new Map([[free, 10]]) })).toEqual([]);
  });
});

describe('documentation', () => {
  it('when every response of this file is checked against the OpenAPI document, then all match', () => {
    expect(undocumentedExchanges(h.exchanges)).toEqual([]);
  });
});
