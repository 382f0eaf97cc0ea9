/**
 * Bad input against the real API: a table of hostile and malformed requests, property-based fuzzing of the POST
 * /orders body, the per-customer rate limit shared by two app instances, and Temporal being unreachable. Every
 * answer is a documented 4xx/503 JSON error, never a 5xx from a bug, and a refused request never changes a row.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import fc from 'fast-check';
import jwt from 'jsonwebtoken';
import { createOrderBodySchema } from '../../api/validation';
import {
  boundaryWorld,
  createApiHarness,
  orderBody,
  snapshot,
  undocumentedExchanges,
  waitForOrderStatus,
  type ApiHarness,
  type Exchange,
  type RequestOptions,
} from '../support/api-helpers';
import { insertOrder } from '../support/saga-helpers';

const { h, sku, alice, aliceOrderId } = boundaryWorld('hostile', { stock: 100 });

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const future = (): number => Math.floor(Date.now() / 1000) + 3600;

/** Tokens that must all be refused. */
function hostileTokens() {
  const secret = h.config.jwtSecret;
  return {
    algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: alice, role: 'admin', exp: future() })}.`,
    forged: jwt.sign({ role: 'admin' }, 'not-the-secret-0123456789abcdef01234', { subject: alice, expiresIn: 60 }),
    expired: jwt.sign({ role: 'customer', exp: Math.floor(Date.now() / 1000) - 120 }, secret, { subject: alice }),
    hs512: jwt.sign({ role: 'customer' }, secret, { algorithm: 'HS512', subject: alice, expiresIn: 60 }),
    noExpiry: jwt.sign({ role: 'customer' }, secret, { subject: alice }),
    badRole: jwt.sign({ role: 'superuser' }, secret, { subject: alice, expiresIn: 60 }),
    noSub: jwt.sign({ role: 'customer' }, secret, { expiresIn: 60 }),
    tamperedRole: (() => {
      const [header, , signature] = jwt
        .sign({ role: 'customer' }, secret, { subject: alice, expiresIn: 60 })
        .split('.');
      return `${header}.${b64({ sub: alice, role: 'admin', exp: future() })}.${signature}`;
    })(),
  };
}

interface HostileCase {
  name: string;
  method: string;
  path: string;
  /** 'alice' (valid), 'bob' (valid, another customer), none, or a raw Authorization header. */
  auth?: 'alice' | 'bob' | { header: string };
  request?: RequestOptions;
  status: number;
  error: string;
  field?: string;
  /** The exact message, when the case pins it. */
  message?: string;
}

/** What any cursor we did not issue is told, malformed or forged. */
const NOT_A_CURSOR = 'cursor: not a cursor returned by a previous page';

const line = (sku: string, quantity: unknown = 1): Record<string, unknown> => ({ sku, quantity });
const bodyWith = (patch: Record<string, unknown>): Record<string, unknown> => ({
  items: [line('T-VALID-1')],
  payment: { token: 'tok_ok' },
  ...patch,
});
const json = (raw: string | Buffer): RequestOptions => ({ raw, headers: { 'content-type': 'application/json' } });

function hostileCases(): HostileCase[] {
  const t = hostileTokens();
  const auth = (header: string) => ({ header });
  const post = (name: string, request: RequestOptions, status: number, error: string, field?: string): HostileCase => ({
    name,
    method: 'POST',
    path: '/orders',
    auth: 'alice',
    request,
    status,
    error,
    ...(field !== undefined ? { field } : {}),
  });
  const invalid = (name: string, body: unknown, field: string): HostileCase =>
    post(name, { body }, 400, 'validation_failed', field);
  return [
    // Authentication
    {
      name: 'no Authorization header',
      method: 'POST',
      path: '/orders',
      request: { body: bodyWith({}) },
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'Basic credentials',
      method: 'GET',
      path: '/orders',
      auth: auth('Basic YWxpY2U6c2VjcmV0'),
      status: 401,
      error: 'unauthorized',
    },
    { name: 'empty Bearer', method: 'GET', path: '/orders', auth: auth('Bearer '), status: 401, error: 'unauthorized' },
    {
      name: 'alg none token claiming admin',
      method: 'GET',
      path: '/orders',
      auth: auth(`Bearer ${t.algNone}`),
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'token signed with another secret',
      method: 'GET',
      path: `/orders/${aliceOrderId}`,
      auth: auth(`Bearer ${t.forged}`),
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'expired token',
      method: 'POST',
      path: '/orders',
      auth: auth(`Bearer ${t.expired}`),
      request: { body: bodyWith({}) },
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'HS512 token',
      method: 'GET',
      path: '/orders',
      auth: auth(`Bearer ${t.hs512}`),
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'token without expiry',
      method: 'GET',
      path: '/orders',
      auth: auth(`Bearer ${t.noExpiry}`),
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'token with an unknown role',
      method: 'GET',
      path: '/orders',
      auth: auth(`Bearer ${t.badRole}`),
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'token without sub',
      method: 'GET',
      path: '/orders',
      auth: auth(`Bearer ${t.noSub}`),
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'payload swapped under a valid signature',
      method: 'POST',
      path: `/orders/${aliceOrderId}/cancel`,
      auth: auth(`Bearer ${t.tamperedRole}`),
      status: 401,
      error: 'invalid_token',
    },
    {
      name: 'garbage token',
      method: 'GET',
      path: '/orders',
      auth: auth('Bearer abc.def.ghi'),
      status: 401,
      error: 'invalid_token',
    },
    // Transport: content type, encoding, size, syntax
    post('no Content-Type', { raw: JSON.stringify(bodyWith({})) }, 415, 'unsupported_media_type'),
    post(
      'text/plain',
      { raw: JSON.stringify(bodyWith({})), headers: { 'content-type': 'text/plain' } },
      415,
      'unsupported_media_type',
    ),
    post(
      'form encoded',
      { raw: 'items=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      415,
      'unsupported_media_type',
    ),
    post(
      'latin1 charset',
      { raw: JSON.stringify(bodyWith({})), headers: { 'content-type': 'application/json; charset=latin1' } },
      415,
      'unsupported_media_type',
    ),
    post(
      'gzip Content-Encoding',
      {
        raw: JSON.stringify(bodyWith({})),
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      },
      415,
      'unsupported_media_type',
    ),
    post(
      'identity, br Content-Encoding',
      {
        raw: JSON.stringify(bodyWith({})),
        headers: { 'content-type': 'application/json', 'content-encoding': 'identity, br' },
      },
      415,
      'unsupported_media_type',
    ),
    post('truncated JSON', json('{"items":[{"sku":"T-VALID-1","quantity":1}],"payment":{"tok'), 400, 'invalid_json'),
    post('empty body', json(''), 400, 'invalid_json'),
    post('invalid UTF-8', json(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])), 400, 'invalid_json'),
    post('trailing garbage', json(`${JSON.stringify(bodyWith({}))}}`), 400, 'invalid_json'),
    post('70 KiB body', { body: bodyWith({ payment: { token: 'x'.repeat(70 * 1024) } }) }, 413, 'payload_too_large'),
    post('2 MiB body', json(`{"items":[${'{"sku":"A","quantity":1},'.repeat(90_000)}]}`), 413, 'payload_too_large'),
    post('20k-deep nesting', json(`${'['.repeat(20_000)}${']'.repeat(20_000)}`), 400, 'validation_failed', 'body'),
    // Body shape and limits
    invalid('JSON null', null, 'body'),
    invalid('JSON array', [bodyWith({})], 'body'),
    invalid('JSON string', 'order please', 'body'),
    invalid('missing items', { payment: { token: 'tok_ok' } }, 'items'),
    invalid('items not an array', bodyWith({ items: { sku: 'A', quantity: 1 } }), 'items'),
    invalid('no lines', bodyWith({ items: [] }), 'items'),
    invalid('51 lines', bodyWith({ items: Array.from({ length: 51 }, (_, i) => line(`S-${i}`)) }), 'items'),
    invalid('2000 lines', bodyWith({ items: Array.from({ length: 2000 }, (_, i) => line(`S${i}`)) }), 'items'),
    invalid('quantity 0', bodyWith({ items: [line('A', 0)] }), 'items[0].quantity'),
    invalid('negative quantity', bodyWith({ items: [line('A', -3)] }), 'items[0].quantity'),
    invalid('quantity 1001', bodyWith({ items: [line('A', 1001)] }), 'items[0].quantity'),
    invalid('fractional quantity', bodyWith({ items: [line('A', 1.5)] }), 'items[0].quantity'),
    invalid('quantity as a string', bodyWith({ items: [line('A', '2')] }), 'items[0].quantity'),
    invalid('quantity null', bodyWith({ items: [line('A', null)] }), 'items[0].quantity'),
    post(
      'quantity 1e400 (Infinity)',
      json('{"items":[{"sku":"A","quantity":1e400}],"payment":{"token":"tok_ok"}}'),
      400,
      'validation_failed',
      'items[0].quantity',
    ),
    invalid('lower-case SKU', bodyWith({ items: [line('tee-black')] }), 'items[0].sku'),
    invalid('SQL in a SKU', bodyWith({ items: [line("A'; DROP TABLE orders;--")] }), 'items[0].sku'),
    invalid('unicode SKU', bodyWith({ items: [line('ÄPFEL-ℵ-😀')] }), 'items[0].sku'),
    invalid('65-character SKU', bodyWith({ items: [line(`A${'B'.repeat(64)}`)] }), 'items[0].sku'),
    invalid('empty SKU', bodyWith({ items: [line('')] }), 'items[0].sku'),
    invalid('numeric SKU', bodyWith({ items: [line(42 as unknown as string)] }), 'items[0].sku'),
    invalid('duplicate SKU', bodyWith({ items: [line('A'), line('B'), line('A', 2)] }), 'items[2].sku'),
    invalid('unknown top-level field', bodyWith({ discountCents: 500 }), 'discountCents'),
    invalid(
      'unknown line field',
      bodyWith({ items: [{ sku: 'A', quantity: 1, unitPriceCents: 1 }] }),
      'items[0].unitPriceCents',
    ),
    post(
      '__proto__ field',
      json('{"__proto__":{"admin":true},"items":[{"sku":"A","quantity":1}],"payment":{"token":"t"}}'),
      400,
      'validation_failed',
      '__proto__',
    ),
    invalid('missing payment', { items: [line('A')] }, 'payment'),
    invalid('empty payment token', bodyWith({ payment: { token: '' } }), 'payment.token'),
    invalid('201-character token', bodyWith({ payment: { token: 't'.repeat(201) } }), 'payment.token'),
    invalid('emoji token', bodyWith({ payment: { token: 'tok_😀' } }), 'payment.token'),
    invalid('numeric token', bodyWith({ payment: { token: 4242424242424242 } }), 'payment.token'),
    invalid(
      'card number next to the token',
      bodyWith({ payment: { token: 'tok_ok', pan: '4242424242424242' } }),
      'payment.pan',
    ),
    // Idempotency-Key
    post(
      '256-character Idempotency-Key',
      { body: bodyWith({}), headers: { 'idempotency-key': 'k'.repeat(256) } },
      400,
      'validation_failed',
      'Idempotency-Key',
    ),
    post(
      'latin1 Idempotency-Key',
      { body: bodyWith({}), headers: { 'idempotency-key': 'cl\u00e9' } },
      400,
      'validation_failed',
      'Idempotency-Key',
    ),
    // Routes, methods, ids
    {
      name: 'DELETE /orders',
      method: 'DELETE',
      path: '/orders',
      auth: 'alice',
      status: 405,
      error: 'method_not_allowed',
    },
    {
      name: 'PUT an order',
      method: 'PUT',
      path: `/orders/${aliceOrderId}`,
      auth: 'alice',
      request: { body: {} },
      status: 405,
      error: 'method_not_allowed',
    },
    {
      name: 'GET on cancel',
      method: 'GET',
      path: `/orders/${aliceOrderId}/cancel`,
      auth: 'alice',
      status: 405,
      error: 'method_not_allowed',
    },
    {
      name: 'DELETE /products (the catalog takes GET and, for admins, POST)',
      method: 'DELETE',
      path: '/products',
      status: 405,
      error: 'method_not_allowed',
    },
    {
      name: 'POST /products without a token',
      method: 'POST',
      path: '/products',
      request: { body: {} },
      status: 401,
      error: 'unauthorized',
    },
    { name: 'unknown route', method: 'GET', path: '/admin/users', status: 404, error: 'not_found' },
    {
      name: 'unknown sub-route',
      method: 'POST',
      path: `/orders/${aliceOrderId}/refund`,
      auth: 'alice',
      status: 404,
      error: 'not_found',
    },
    {
      name: 'malformed order id',
      method: 'GET',
      path: '/orders/not-a-uuid',
      auth: 'alice',
      status: 404,
      error: 'not_found',
    },
    {
      name: 'SQL in an order id',
      method: 'GET',
      path: `/orders/${encodeURIComponent("1' OR '1'='1")}`,
      auth: 'alice',
      status: 404,
      error: 'not_found',
    },
    {
      name: 'path traversal',
      method: 'GET',
      path: '/orders/..%2F..%2Fetc%2Fpasswd',
      auth: 'alice',
      status: 404,
      error: 'not_found',
    },
    {
      name: 'unknown order',
      method: 'GET',
      path: `/orders/${randomUUID()}`,
      auth: 'alice',
      status: 404,
      error: 'not_found',
    },
    {
      name: "another customer's order",
      method: 'GET',
      path: `/orders/${aliceOrderId}`,
      auth: 'bob',
      status: 404,
      error: 'not_found',
    },
    {
      name: "cancelling another customer's order",
      method: 'POST',
      path: `/orders/${aliceOrderId}/cancel`,
      auth: 'bob',
      status: 404,
      error: 'not_found',
    },
    {
      name: 'cancelling an unknown order',
      method: 'POST',
      path: `/orders/${randomUUID()}/cancel`,
      auth: 'alice',
      status: 404,
      error: 'not_found',
    },
    {
      name: 'cancel reason of the wrong type',
      method: 'POST',
      path: `/orders/${aliceOrderId}/cancel`,
      auth: 'alice',
      request: { body: { reason: 5 } },
      status: 400,
      error: 'validation_failed',
      field: 'reason',
    },
    {
      name: 'cancel with a null body',
      method: 'POST',
      path: `/orders/${aliceOrderId}/cancel`,
      auth: 'alice',
      request: { body: null },
      status: 400,
      error: 'validation_failed',
    },
    {
      name: 'cancel with an unknown field',
      method: 'POST',
      path: `/orders/${aliceOrderId}/cancel`,
      auth: 'alice',
      request: { body: { refund: false } },
      status: 400,
      error: 'validation_failed',
      field: 'refund',
    },
    {
      name: 'cancel with malformed JSON',
      method: 'POST',
      path: `/orders/${aliceOrderId}/cancel`,
      auth: 'alice',
      request: json('{"reason":'),
      status: 400,
      error: 'invalid_json',
    },
    // Query parameters
    {
      name: 'limit 0',
      method: 'GET',
      path: '/orders?limit=0',
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'limit',
    },
    {
      name: 'limit 101',
      method: 'GET',
      path: '/orders?limit=101',
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'limit',
    },
    {
      name: 'limit not a number',
      method: 'GET',
      path: '/orders?limit=ten',
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'limit',
    },
    {
      name: 'unknown status',
      method: 'GET',
      path: '/orders?status=SHIPPED',
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'status',
    },
    {
      name: 'status given twice',
      method: 'GET',
      path: '/orders?status=PAID&status=FAILED',
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'status',
    },
    {
      name: 'unknown parameter',
      method: 'GET',
      path: '/orders?sort=asc',
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'sort',
    },
    {
      name: 'forged cursor',
      method: 'GET',
      path: `/orders?cursor=${b64(['x', 'y'])}`,
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'cursor',
      message: NOT_A_CURSOR,
    },
    {
      name: 'forged cursor on February 30',
      method: 'GET',
      path: `/orders?cursor=${b64(['2026-02-30T00:00:00.000000Z', '5fc0a66c-fa36-8121-821c-5f9e5cd473e1'])}`,
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'cursor',
      message: NOT_A_CURSOR,
    },
    {
      name: 'forged cursor in month 13',
      method: 'GET',
      path: `/orders?cursor=${b64(['2026-13-01T00:00:00.000000Z', '5fc0a66c-fa36-8121-821c-5f9e5cd473e1'])}`,
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'cursor',
      message: NOT_A_CURSOR,
    },
    {
      name: 'forged cursor in year 0000',
      method: 'GET',
      path: `/orders?cursor=${b64(['0000-01-01T00:00:00.000000Z', '5fc0a66c-fa36-8121-821c-5f9e5cd473e1'])}`,
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'cursor',
      message: NOT_A_CURSOR,
    },
    {
      // A valid cursor's text with a space inside: Node's decoder would skip it and read the same position.
      name: 'cursor with a character outside base64url',
      method: 'GET',
      path: `/orders?cursor=${(() => {
        const valid = b64(['2026-01-01T00:00:00.000000Z', '5fc0a66c-fa36-8121-821c-5f9e5cd473e1']);
        return `${valid.slice(0, 4)}%20${valid.slice(4)}`;
      })()}`,
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'cursor',
      message: NOT_A_CURSOR,
    },
    {
      name: 'forged cursor at hour 24',
      method: 'GET',
      path: `/orders?cursor=${b64(['2026-01-01T24:00:00.000000Z', '5fc0a66c-fa36-8121-821c-5f9e5cd473e1'])}`,
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'cursor',
      message: NOT_A_CURSOR,
    },
    {
      name: 'SQL in a parameter',
      method: 'GET',
      path: `/orders?status=${encodeURIComponent("PAID' OR 1=1--")}`,
      auth: 'alice',
      status: 400,
      error: 'validation_failed',
      field: 'status',
    },
    {
      name: 'customer filtering by customer',
      method: 'GET',
      path: `/orders?customerId=${alice}`,
      auth: 'bob',
      status: 400,
      error: 'validation_failed',
      field: 'customerId',
    },
  ];
}

function withAuth(testCase: HostileCase): RequestOptions {
  const request: RequestOptions = { ...testCase.request, headers: { ...testCase.request?.headers } };
  if (testCase.auth === 'alice') request.token = h.token(alice);
  else if (testCase.auth === 'bob') request.token = h.token('cust-bob');
  else if (testCase.auth !== undefined) request.headers = { ...request.headers, authorization: testCase.auth.header };
  return request;
}

describe('hostile and malformed requests', () => {
  const cases = (): HostileCase[] => hostileCases();

  it('when the table is counted, then it holds at least 40 cases', () => {
    expect(cases().length).toBeGreaterThanOrEqual(40);
  });

  it('when each hostile request is sent, then it gets its documented 4xx JSON error and no row changes', async () => {
    const failures: string[] = [];
    for (const testCase of cases()) {
      const before = await snapshot(h.db);
      const response = await h.request(testCase.method, testCase.path, withAuth(testCase));
      const after = await snapshot(h.db);
      const body = response.body as { error?: unknown; message?: unknown; field?: unknown };
      const problems = [
        response.status !== testCase.status && `status ${response.status} (expected ${testCase.status})`,
        body.error !== testCase.error && `error ${String(body.error)} (expected ${testCase.error})`,
        typeof body.message !== 'string' && 'no message',
        testCase.field !== undefined &&
          body.field !== testCase.field &&
          `field ${String(body.field)} (expected ${testCase.field})`,
        testCase.message !== undefined &&
          body.message !== testCase.message &&
          `message ${String(body.message)} (expected ${testCase.message})`,
        !String(response.headers.get('content-type')).startsWith('application/json') && 'not JSON',
        JSON.stringify(before) !== JSON.stringify(after) &&
          `rows changed ${JSON.stringify(before)} -> ${JSON.stringify(after)}`,
      ].filter(Boolean);
      if (problems.length > 0) failures.push(`${testCase.name}: ${problems.join(', ')} ${response.text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
  });

  it('when a method is not allowed, then the Allow header lists the allowed ones', async () => {
    const response = await h.request('DELETE', '/orders', { token: h.token(alice) });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toMatch(/GET.*POST|POST.*GET/);
  });

  it('when a token is missing, then the 401 carries a Bearer challenge', async () => {
    const response = await h.request('GET', '/orders');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });
});

/** An answer of `sendTwice`. */
interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: { error?: unknown; message?: unknown; field?: unknown };
}

/**
 * Sends a request through node:http, where a header whose value is an array goes out as one line per value (fetch
 * would join them into one line).
 */
function sendTwice(method: string, path: string, headers: http.OutgoingHttpHeaders, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${h.baseUrl}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as RawAnswer['body'] });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('single-valued headers given twice', () => {
  const json = { 'Content-Type': 'application/json' };
  const order = (): string => JSON.stringify(orderBody([{ sku, quantity: 1 }]));

  it('when Idempotency-Key comes on two lines, then 400 says it must be given once and no order is placed', async () => {
    const before = await snapshot(h.db);
    const answer = await sendTwice(
      'POST',
      '/orders',
      { ...json, Authorization: `Bearer ${h.token(alice)}`, 'Idempotency-Key': ['k1', 'k2'] },
      order(),
    );
    expect(answer).toMatchObject({
      status: 400,
      body: { error: 'validation_failed', message: 'Idempotency-Key: must be given once', field: 'Idempotency-Key' },
    });
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('when Authorization comes on two lines, then 401 with a Bearer challenge, even if both carry valid tokens', async () => {
    const token = h.token(alice);
    const answer = await sendTwice('GET', '/orders', { Authorization: [`Bearer ${token}`, `Bearer ${token}`] });
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ error: 'unauthorized', message: 'Authorization header must be given once' });
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  it('when Content-Type comes on two lines, then 415 and no order is placed', async () => {
    const before = await snapshot(h.db);
    const answer = await sendTwice(
      'POST',
      '/orders',
      { 'Content-Type': ['application/json', 'text/plain'], Authorization: `Bearer ${h.token(alice)}` },
      order(),
    );
    expect(answer.status).toBe(415);
    expect(answer.body).toMatchObject({ error: 'unsupported_media_type', message: 'Content-Type must be given once' });
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('when each header comes once through node:http, then the order is placed (the refusals are about the repeat)', async () => {
    const answer = await sendTwice(
      'POST',
      '/orders',
      { ...json, Authorization: `Bearer ${h.token(alice)}`, 'Idempotency-Key': `once-${randomUUID()}` },
      order(),
    );
    expect(answer.status).toBe(201);
    // Settled before the next suites, which count rows.
    await waitForOrderStatus(h.db, String((answer.body as { orderId?: unknown }).orderId), ['COMPLETED']);
  });
});

/** Arbitrary POST /orders bodies: mostly near-misses of a valid body, some arbitrary JSON, a few valid ones. */
function arbitraryBody(): fc.Arbitrary<unknown> {
  const unknownSku = fc.constantFrom('FUZZ-UNKNOWN-1', 'FUZZ-UNKNOWN-2', 'FUZZ-UNKNOWN-3');
  const sku = fc.oneof(
    unknownSku,
    fc.string({ maxLength: 70 }),
    fc.constantFrom("'; DROP TABLE orders;--", 'ÄPFEL', '', '-A', 'A'.repeat(65), 'a-b'),
    fc.integer(),
    fc.constant(null),
  );
  const quantity = fc.oneof(
    fc.integer({ min: -10, max: 1010 }),
    fc.double(),
    fc.string({ maxLength: 5 }),
    fc.constantFrom(null, true, 0, 1000, 1001, -0, 1.5),
  );
  const extras = fc.option(
    fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'price', 'extra', 'unitPriceCents'), fc.jsonValue(), {
      minKeys: 1,
      maxKeys: 2,
    }),
    { freq: 3 },
  );
  const lineArb = fc
    .tuple(fc.record({ sku, quantity }, { requiredKeys: [] }), extras)
    .map(([base, extra]) => ({ ...base, ...extra }));
  const items = fc.oneof(
    fc.array(lineArb, { maxLength: 6 }),
    fc.array(lineArb, { minLength: 49, maxLength: 53 }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const token = fc.oneof(
    fc.string({ maxLength: 210 }),
    fc.constantFrom('tok_ok', 'tok_decline', ''),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const payment = fc.oneof(
    fc.tuple(fc.record({ token }, { requiredKeys: [] }), extras).map(([base, extra]) => ({ ...base, ...extra })),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const nearMiss = fc
    .tuple(fc.record({ items, payment }, { requiredKeys: [] }), extras)
    .map(([base, extra]) => ({ ...base, ...extra }));
  const valid = fc
    .uniqueArray(fc.record({ sku: unknownSku, quantity: fc.integer({ min: 1, max: 1000 }) }), {
      minLength: 1,
      maxLength: 3,
      selector: (l) => l.sku,
    })
    .map((lines) => ({ items: lines, payment: { token: 'tok_ok' } }));
  return fc.oneof(
    { weight: 40, arbitrary: nearMiss },
    { weight: 8, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: valid },
  );
}

describe('fuzzing POST /orders', () => {
  it('when thousands of arbitrary bodies are posted, then none yields a 5xx and no refused request changes a row', async () => {
    const customer = `cust-fuzz-${randomUUID().slice(0, 8)}`;
    const token = h.token(customer);
    let baseline = await snapshot(h.db);
    let reachedTemporal = 0;
    await fc.assert(
      fc.asyncProperty(
        arbitraryBody(),
        fc.option(fc.string({ minLength: 1, maxLength: 8 }), { freq: 4 }),
        async (body, key) => {
          const response: Exchange = await h.request('POST', '/orders', {
            token,
            body,
            ...(key !== null ? { headers: { 'idempotency-key': `fz-${key}` } } : {}),
          });
          const schemaValid = createOrderBodySchema.safeParse(body).success;
          expect(response.status).toBeLessThan(500);
          if (!schemaValid) {
            expect(response.status).toBe(400);
            expect(await snapshot(h.db)).toEqual(baseline);
            return;
          }
          // Valid bodies name only SKUs that are not in the catalog: the saga rejects them.
          reachedTemporal += 1;
          expect(response.status).toBe(422);
          const answer = response.body as { error: string; orderId: string };
          expect(['unknown_sku', 'idempotency_key_reused']).toContain(answer.error);
          await waitForOrderStatus(h.db, answer.orderId, ['REJECTED']);
          baseline = await snapshot(h.db);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000), seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000) },
    );
    // Most cases are refused before Temporal; the few valid ones exercise the saga's rejection path.
    expect(reachedTemporal).toBeGreaterThan(0);
    expect(reachedTemporal).toBeLessThan(200);
  });
});

describe('rate limit shared by replicas', () => {
  it('when one customer exceeds the per-minute budget across two app instances, then the next request is 429 with Retry-After', async () => {
    const prefix = `orderflow-test:rl-${randomUUID().slice(0, 8)}:`;
    const env = { RATE_LIMIT_PER_MINUTE: '3', REDIS_KEY_PREFIX: prefix };
    const [a, b] = await Promise.all([
      createApiHarness({ env, worker: false }),
      createApiHarness({ env, worker: false }),
    ]);
    try {
      // Fixed windows are wall-clock minutes: start at least 5 s before the next boundary so all requests share one.
      const left = 60_000 - (Date.now() % 60_000);
      if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
      const token = a.token('cust-rl');
      const statuses = [
        (await a.request('GET', '/orders', { token })).status,
        (await b.request('GET', '/orders', { token })).status,
        (await a.request('GET', '/orders', { token })).status,
      ];
      expect(statuses).toEqual([200, 200, 200]);
      const limited = await b.request('GET', '/orders', { token });
      expect(limited.status).toBe(429);
      expect(limited.body).toMatchObject({ error: 'rate_limited', limit: 3 });
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect((await a.request('GET', '/orders', { token: a.token('cust-other') })).status).toBe(200);
      expect(undocumentedExchanges([...a.exchanges, ...b.exchanges])).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

/**
 * A client on a port where nothing listens: every call fails as "Temporal unreachable". Its gRPC retries are capped
 * (3 attempts, well inside the app's deadline) so no retry timer outlives a call and fires on a closed channel.
 */
async function unreachableTemporalClient(): Promise<Client> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const interceptors = [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 3 }))];
  return new Client({
    connection: Connection.lazy({ address: `127.0.0.1:${port}`, interceptors }),
    namespace: 'default',
  });
}

describe('Temporal unreachable', () => {
  let down: ApiHarness;
  let unreachable: Client;
  const customer = `cust-down-${randomUUID().slice(0, 8)}`;
  const orderId = randomUUID();

  beforeAll(async () => {
    unreachable = await unreachableTemporalClient();
    down = await createApiHarness({
      worker: false,
      temporal: unreachable,
      appOptions: { temporalTimeoutMs: 1_500, readyTimeoutMs: 1_000, retryAfterSeconds: 7 },
    });
    await insertOrder(
      down.db,
      { customer_id: customer, status: 'RESERVED', total_cents: 100, request_hash: 'y'.repeat(64) },
      orderId,
    );
  });

  afterAll(async () => {
    await down.close();
    await unreachable.connection.close();
  });

  it('when an order is posted, then the API answers 503 with Retry-After and nothing is created', async () => {
    const before = await snapshot(down.db);
    const token = down.token(customer);
    const plain = await down.request('POST', '/orders', { token, body: orderBody([{ sku, quantity: 1 }]) });
    const keyed = await down.request('POST', '/orders', {
      token,
      body: orderBody([{ sku, quantity: 1 }]),
      headers: { 'Idempotency-Key': 'while-down' },
    });
    for (const response of [plain, keyed]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('7');
      expect(response.body).toMatchObject({ error: 'service_unavailable' });
    }
    expect(await snapshot(down.db)).toEqual(before);
  });

  it('when a cancel is sent, then it is 503 too; reads from PostgreSQL keep working', async () => {
    const token = down.token(customer);
    const cancel = await down.request('POST', `/orders/${orderId}/cancel`, { token });
    expect(cancel.status).toBe(503);
    expect(cancel.headers.get('retry-after')).toBe('7');
    expect((await down.request('GET', `/orders/${orderId}`, { token })).status).toBe(200);
    expect((await down.request('GET', '/orders', { token })).status).toBe(200);
  });

  it('when readiness is checked, then it is 503 naming Temporal while liveness stays 200', async () => {
    const ready = await down.request('GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ checks: { temporal: 'down', postgres: 'ok', redis: 'ok' } });
    expect((await down.request('GET', '/health')).status).toBe(200);
    expect(undocumentedExchanges(down.exchanges)).toEqual([]);
  });
});

describe('documentation', () => {
  it('when every response of the main app in this file is checked against the OpenAPI document, then all match', () => {
    expect(h.exchanges.length).toBeGreaterThan(40);
    expect(undocumentedExchanges(h.exchanges)).toEqual([]);
  });
});
