/**
 * The authorization matrix: every principal (customers A and B, an admin, and five kinds of refused token) against
 * every HTTP route of the API, the codec server and the relay, and every socket action of the relay. Each cell is the
 * documented answer and a named test. The API's rows are checked against its router and OpenAPI document, and the
 * relay's socket rows against the events a connected socket listens to, so a new route or event cannot slip past.
 * docs/authorization.md shows the same tables; the last test checks it (UPDATE_AUTH_MATRIX=1 rewrites it).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import jwt from 'jsonwebtoken';
import { io as connectSocket } from 'socket.io-client';
import { signToken } from '../../lib/auth';
import { resolveOptions } from '../../api/deps';
import { createMetrics } from '../../api/metrics';
import { API_OPERATIONS, openApiPath } from '../../api/openapi';
import { createRouter } from '../../api/routes';
import { SESSION_COOKIE } from '../../codec-server/operator-auth';
import { createCodecServer } from '../../codec-server/server';
import { createDataConverter } from '../../lib/codec';
import { TABLES } from '../../lib/db';
import { createLogger } from '../../lib/logger';
import { createHttpRoutes } from '../../realtime/http';
import { REALTIME_ERRORS } from '../../lib/realtime-protocol';
import { createApiHarness, orderBody, undocumentedExchanges, type ApiHarness } from '../support/api-helpers';
import { insertProducts, uniqueSku } from '../support/services';
import {
  commitStatus,
  connectClient,
  createOrder,
  recordStatus,
  startRelay,
  type TestClient,
  type TestRelay,
} from './realtime.support';
import { until } from '../support/wait';

const DOC_PATH = path.resolve(__dirname, '..', '..', 'docs', 'authorization.md');

// ---------------------------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------------------------

const PRINCIPALS = [
  'customerA',
  'customerB',
  'admin',
  'none',
  'forged',
  'expired',
  'algNone',
  'wrongRole',
  'noSub',
] as const;

/** Who calls: two customers, an admin, nobody, and tokens that must be refused. */
type Principal = (typeof PRINCIPALS)[number];

/** How each principal is named in test names and in the documentation's column headers. */
const PRINCIPAL_LABELS: Record<Principal, string> = {
  customerA: 'customer A',
  customerB: 'customer B',
  admin: 'admin',
  none: 'no token',
  forged: 'forged (another secret)',
  expired: 'expired',
  algNone: 'alg none',
  wrongRole: 'wrong role',
  noSub: 'no sub',
};

/** What each principal is, for the documentation. */
const PRINCIPAL_NOTES: Record<Principal, string> = {
  customerA: 'valid HS256 token, `role: customer`, owner of "A\'s order"',
  customerB: 'valid HS256 token, `role: customer`, another customer',
  admin: 'valid HS256 token, `role: admin`',
  none: 'no `Authorization` header, no cookie, no `auth.token`',
  forged: '`role: admin` token for A signed with a secret other than `JWT_SECRET`',
  expired: '`role: admin` token signed with `JWT_SECRET`, `exp` two minutes ago (beyond the 5 s clock tolerance)',
  algNone: 'unsigned token (`alg: none`) claiming `role: admin`',
  wrongRole: 'valid signature and `exp`, `role: superuser`',
  noSub: 'valid signature and `exp`, `role: admin`, no `sub` claim',
};

// ---------------------------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------------------------

/** An HTTP answer: `<status>` or `<status> <error code>`. */
type HttpCell = string;

/** The answer of the same request for every principal. */
type Row<Cell> = Record<Principal, Cell>;

const REFUSED_TOKENS = {
  none: '401 unauthorized',
  forged: '401 invalid_token',
  expired: '401 invalid_token',
  algNone: '401 invalid_token',
  wrongRole: '401 invalid_token',
  noSub: '401 invalid_token',
};

/** A bearer-protected request: the three valid principals' answers, 401 for everyone else. */
function bearer(customerA: HttpCell, customerB: HttpCell, admin: HttpCell): Row<HttpCell> {
  return { customerA, customerB, admin, ...REFUSED_TOKENS };
}

/** A public request: the same answer whatever the caller sends. */
function everyone<Cell>(cell: Cell): Row<Cell> {
  return Object.fromEntries(PRINCIPALS.map((principal) => [principal, cell])) as Row<Cell>;
}

/** One HTTP answer as the test saw it. */
interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

/** What the rows' requests refer to; filled in by beforeAll. */
interface Fixtures {
  h: ApiHarness;
  sku: string;
  subs: Record<'customerA' | 'customerB' | 'admin', string>;
  tokens: Record<Principal, string | undefined>;
  orderA: string;
  orderB: string;
  /** A completed export (no pages) the admin routes read. */
  exportId: string;
  codecUrl: string;
  relayUrl: string;
  productionRelayUrl: string;
  encryptedPayload: { metadata: Record<string, string>; data: string };
}

/** One row of the HTTP matrix. */
interface HttpRow {
  server: 'API' | 'codec server' | 'relay';
  /** For API rows, the route as the router names it (`GET /orders/:id`): every route must have a row. */
  route: string;
  /** What the row's request is, when the route alone does not say. */
  what?: string;
  expected: Row<HttpCell>;
  send(fx: Fixtures, principal: Principal): Promise<Answer>;
  /** Further checks of a successful answer (visibility, cookies). */
  verify?(fx: Fixtures, principal: Principal, answer: Answer): void;
}

function authHeader(fx: Fixtures, principal: Principal): Record<string, string> {
  const token = fx.tokens[principal];
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

async function api(fx: Fixtures, principal: Principal, method: string, route: string, body?: unknown): Promise<Answer> {
  return fx.h.request(method, route, { token: fx.tokens[principal], ...(body !== undefined ? { body } : {}) });
}

async function fetchAnswer(url: string, init: RequestInit): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, headers: response.headers };
}

function codecPost(fx: Fixtures, principal: Principal, route: string, via: 'bearer' | 'cookie'): Promise<Answer> {
  const token = fx.tokens[principal];
  const credentials =
    via === 'bearer' ? authHeader(fx, principal) : token === undefined ? {} : { cookie: `${SESSION_COOKIE}=${token}` };
  return fetchAnswer(`${fx.codecUrl}${route}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-namespace': fx.h.config.temporal.namespace,
      ...credentials,
    },
    body: JSON.stringify({ payloads: [fx.encryptedPayload] }),
  });
}

function ordersOf(answer: Answer): { orderId: string; customerId: string }[] {
  return (answer.body as { orders: { orderId: string; customerId: string }[] }).orders;
}

function subOf(fx: Fixtures, principal: Principal): string {
  if (principal !== 'customerA' && principal !== 'customerB' && principal !== 'admin') {
    throw new Error(`${principal} has no identity`);
  }
  return fx.subs[principal];
}

const HTTP_ROWS: HttpRow[] = [
  // API: public routes ignore whatever credentials come along.
  { server: 'API', route: 'GET /health', expected: everyone('200'), send: (fx, p) => api(fx, p, 'GET', '/health') },
  { server: 'API', route: 'GET /ready', expected: everyone('200'), send: (fx, p) => api(fx, p, 'GET', '/ready') },
  { server: 'API', route: 'GET /metrics', expected: everyone('200'), send: (fx, p) => api(fx, p, 'GET', '/metrics') },
  {
    server: 'API',
    route: 'GET /openapi.json',
    expected: everyone('200'),
    send: (fx, p) => api(fx, p, 'GET', '/openapi.json'),
  },
  {
    server: 'API',
    route: 'GET /products',
    expected: everyone('200'),
    send: (fx, p) => api(fx, p, 'GET', '/products'),
  },
  {
    server: 'API',
    route: 'POST /orders',
    what: "(for the caller's own sub)",
    expected: bearer('201', '201', '201'),
    send: (fx, p) => api(fx, p, 'POST', '/orders', orderBody([{ sku: fx.sku, quantity: 1 }])),
    verify(fx, p, answer) {
      expect(answer.body).toMatchObject({ customerId: subOf(fx, p), status: 'RESERVED' });
    },
  },
  {
    server: 'API',
    route: 'GET /orders',
    what: '(customers: their own orders only)',
    expected: bearer('200', '200', '200'),
    send: (fx, p) => api(fx, p, 'GET', '/orders?limit=100'),
    verify(fx, p, answer) {
      const orders = ordersOf(answer);
      const ids = orders.map((order) => order.orderId);
      if (p === 'admin') {
        expect(ids).toEqual(expect.arrayContaining([fx.orderA, fx.orderB]));
      } else {
        expect(new Set(orders.map((order) => order.customerId))).toEqual(new Set([subOf(fx, p)]));
        expect(ids).toContain(p === 'customerA' ? fx.orderA : fx.orderB);
        expect(ids).not.toContain(p === 'customerA' ? fx.orderB : fx.orderA);
      }
    },
  },
  {
    server: 'API',
    route: 'GET /orders',
    what: '`?customerId=<B>`',
    expected: bearer('400 validation_failed', '200', '200'),
    send: (fx, p) => api(fx, p, 'GET', `/orders?limit=100&customerId=${encodeURIComponent(fx.subs.customerB)}`),
    verify(fx, _p, answer) {
      const orders = ordersOf(answer);
      expect(orders.map((order) => order.orderId)).toContain(fx.orderB);
      expect(new Set(orders.map((order) => order.customerId))).toEqual(new Set([fx.subs.customerB]));
    },
  },
  {
    server: 'API',
    route: 'GET /orders/:id',
    what: "A's order",
    expected: bearer('200', '404 not_found', '200'),
    send: (fx, p) => api(fx, p, 'GET', `/orders/${fx.orderA}`),
    verify(fx, _p, answer) {
      expect(answer.body).toMatchObject({ orderId: fx.orderA, customerId: fx.subs.customerA });
    },
  },
  {
    server: 'API',
    route: 'POST /orders/:id/cancel',
    what: "A's order",
    expected: bearer('202', '404 not_found', '202'),
    send: (fx, p) => api(fx, p, 'POST', `/orders/${fx.orderA}/cancel`),
    verify(fx, _p, answer) {
      expect(answer.body).toMatchObject({ orderId: fx.orderA, cancelRequested: true });
    },
  },
  // API, admin only: customers are authenticated but not allowed.
  {
    server: 'API',
    route: 'POST /orders/:id/retry-payment',
    what: "A's order (PENDING)",
    expected: bearer('403 forbidden', '403 forbidden', '409 not_in_attention'),
    send: (fx, p) => api(fx, p, 'POST', `/orders/${fx.orderA}/retry-payment`),
  },
  {
    server: 'API',
    route: 'POST /products',
    what: '(a new SKU each call)',
    expected: bearer('403 forbidden', '403 forbidden', '201'),
    send: (fx, p) => api(fx, p, 'POST', '/products', { sku: uniqueSku('matrix-new'), name: 'New', priceCents: 100 }),
    verify(_fx, _p, answer) {
      expect(answer.body).toMatchObject({ status: 'draft' });
    },
  },
  {
    server: 'API',
    route: 'PATCH /products/:sku',
    expected: bearer('403 forbidden', '403 forbidden', '200'),
    send: (fx, p) => api(fx, p, 'PATCH', `/products/${fx.sku}`, { name: 'Matrix product' }),
  },
  {
    server: 'API',
    route: 'POST /products/:sku/stock-adjustments',
    expected: bearer('403 forbidden', '403 forbidden', '201'),
    send: (fx, p) => api(fx, p, 'POST', `/products/${fx.sku}/stock-adjustments`, { delta: 1, reason: 'matrix' }),
  },
  {
    server: 'API',
    route: 'GET /products/:sku/movements',
    expected: bearer('403 forbidden', '403 forbidden', '200'),
    send: (fx, p) => api(fx, p, 'GET', `/products/${fx.sku}/movements`),
  },
  {
    server: 'API',
    route: 'POST /exports',
    what: '(of a customer without orders)',
    expected: bearer('403 forbidden', '403 forbidden', '202'),
    send: (fx, p) =>
      api(fx, p, 'POST', '/exports', { format: 'csv', filters: { customerId: `nobody-${randomUUID()}` } }),
  },
  {
    server: 'API',
    route: 'GET /exports/:id',
    expected: bearer('403 forbidden', '403 forbidden', '200'),
    send: (fx, p) => api(fx, p, 'GET', `/exports/${fx.exportId}`),
  },
  {
    server: 'API',
    route: 'GET /exports/:id/download',
    expected: bearer('403 forbidden', '403 forbidden', '200'),
    send: (fx, p) => api(fx, p, 'GET', `/exports/${fx.exportId}/download`),
  },
  // Codec server: decrypted payloads are for admins only; customers are authenticated but not allowed.
  {
    server: 'codec server',
    route: 'POST /decode',
    what: '`Authorization: Bearer`',
    expected: bearer('403 forbidden', '403 forbidden', '200'),
    send: (fx, p) => codecPost(fx, p, '/decode', 'bearer'),
    verify(_fx, _p, answer) {
      const [payload] = (answer.body as { payloads: { data: string }[] }).payloads;
      expect(JSON.parse(Buffer.from(payload?.data ?? '', 'base64').toString())).toEqual({ paymentToken: 'tok_matrix' });
    },
  },
  {
    server: 'codec server',
    route: 'POST /decode',
    what: 'session cookie (the Web UI)',
    expected: bearer('403 forbidden', '403 forbidden', '200'),
    send: (fx, p) => codecPost(fx, p, '/decode', 'cookie'),
  },
  {
    server: 'codec server',
    route: 'POST /encode',
    what: '`Authorization: Bearer`',
    expected: bearer('403 forbidden', '403 forbidden', '200'),
    send: (fx, p) => codecPost(fx, p, '/encode', 'bearer'),
  },
  {
    server: 'codec server',
    route: 'POST /session',
    what: 'sign-in form with the token',
    expected: { ...bearer('403 forbidden', '403 forbidden', '200'), none: '400 validation_failed' },
    send: (fx, p) =>
      fetchAnswer(`${fx.codecUrl}/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fx.tokens[p] === undefined ? {} : { token: fx.tokens[p] }).toString(),
      }),
    verify(_fx, _p, answer) {
      expect(answer.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=ey.*HttpOnly; SameSite=Strict`));
    },
  },
  {
    server: 'codec server',
    route: 'GET /session',
    what: 'sign-in page',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.codecUrl}/session`, { headers: authHeader(fx, p) }),
  },
  {
    server: 'codec server',
    route: 'POST /session/signout',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.codecUrl}/session/signout`, { method: 'POST', headers: authHeader(fx, p) }),
  },
  {
    server: 'codec server',
    route: 'GET /health',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.codecUrl}/health`, { headers: authHeader(fx, p) }),
  },
  // Relay: its HTTP routes are public; tokens matter only on the socket.
  {
    server: 'relay',
    route: 'GET /health',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.relayUrl}/health`, { headers: authHeader(fx, p) }),
  },
  {
    server: 'relay',
    route: 'GET /',
    what: 'demo page',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.relayUrl}/`, { headers: authHeader(fx, p) }),
  },
  {
    server: 'relay',
    route: 'GET /config.json',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.relayUrl}/config.json`, { headers: authHeader(fx, p) }),
  },
  {
    server: 'relay',
    route: 'GET /socket.io/socket.io.js',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.relayUrl}/socket.io/socket.io.js`, { headers: authHeader(fx, p) }),
  },
  {
    server: 'relay',
    route: 'GET /dev-token',
    what: '`?role=admin`, `NODE_ENV` not production (demo page)',
    expected: everyone('200'),
    send: (fx, p) => fetchAnswer(`${fx.relayUrl}/dev-token?customer=x&role=admin`, { headers: authHeader(fx, p) }),
    verify(fx, _p, answer) {
      expect(answer.body).toMatchObject({ customerId: 'x', role: 'admin' });
      expect(jwt.verify((answer.body as { token: string }).token, fx.h.config.jwtSecret)).toMatchObject({
        role: 'admin',
      });
    },
  },
  {
    server: 'relay',
    route: 'GET /dev-token',
    what: '`NODE_ENV=production`',
    expected: everyone('404 not_found'),
    send: (fx, p) =>
      fetchAnswer(`${fx.productionRelayUrl}/dev-token?customer=x&role=admin`, { headers: authHeader(fx, p) }),
  },
];

/** A socket answer: the handshake, a subscribe ack (with the replay), or whether a live event arrived. */
type SocketCell =
  | 'connected'
  | 'connect_error unauthorized'
  | 'ack ok, history replayed'
  | 'ack not_found, nothing replayed'
  | 'received'
  | 'not received';

const HANDSHAKE_REFUSED: SocketCell = 'connect_error unauthorized';

/** A socket action for the three valid principals; the handshake refuses everyone else. */
function socketRow(customerA: SocketCell, customerB: SocketCell, admin: SocketCell): Row<SocketCell> {
  const refused = Object.fromEntries(Object.keys(REFUSED_TOKENS).map((principal) => [principal, HANDSHAKE_REFUSED]));
  return { customerA, customerB, admin, ...refused } as Row<SocketCell>;
}

/** One row of the socket matrix. */
interface SocketRow {
  action: string;
  /** The client event the action sends, if any (every event the relay listens to must have a row). */
  event?: string;
  expected: Row<SocketCell>;
  run(fx: Fixtures, client: TestClient, principal: Principal): Promise<SocketCell>;
}

const SUBSCRIBED: SocketCell = 'ack ok, history replayed';
const NOT_FOUND: SocketCell = 'ack not_found, nothing replayed';

/** Subscribes to `orderId` from seq 0 and checks that the replay is the whole stored history, or nothing. */
async function subscribeCell(fx: Fixtures, client: TestClient, orderId: string): Promise<SocketCell> {
  const ack = await client.subscribe(orderId, 0);
  const stored = await fx.h.db(TABLES.orderEvents).where('order_id', orderId).orderBy('seq').pluck<number[]>('seq');
  const replayed = [...new Set(client.of(orderId).map((event) => event.seq))].sort((a, b) => a - b);
  if (ack.ok) {
    expect(replayed).toEqual(stored);
    return SUBSCRIBED;
  }
  expect(ack).toEqual({ ok: false, error: REALTIME_ERRORS.notFound });
  expect(replayed).toEqual([]);
  return NOT_FOUND;
}

/**
 * Publishes an event of A's order, then one of an order of the caller's own; the relay emits in stream order, so once
 * the caller has its own event, A's has arrived or never will.
 */
async function liveEventCell(fx: Fixtures, client: TestClient, principal: Principal): Promise<SocketCell> {
  const { db, redis, config } = fx.h;
  const event = await recordStatus(db, redis, config, fx.orderA, 'CHARGING');
  const own = await createOrder(db, subOf(fx, principal));
  await recordStatus(db, redis, config, own, 'PENDING');
  await until(`the caller's own event of ${own}`, () => client.of(own).length > 0);
  return client.of(fx.orderA).some((received) => received.seq === event.seq) ? 'received' : 'not received';
}

const SOCKET_ROWS: SocketRow[] = [
  {
    action: 'connect (handshake, `auth: { token }`)',
    expected: socketRow('connected', 'connected', 'connected'),
    // The cell reads the socket's state: a refused handshake never gets here connected.
    run: (_fx, client) => Promise.resolve(client.socket.connected ? 'connected' : 'connect_error unauthorized'),
  },
  {
    action: "`subscribe` to A's order (`lastSeq: 0`)",
    event: 'subscribe',
    expected: socketRow(SUBSCRIBED, NOT_FOUND, SUBSCRIBED),
    run: (fx, client) => subscribeCell(fx, client, fx.orderA),
  },
  {
    action: "`subscribe` to B's order",
    event: 'subscribe',
    expected: socketRow(NOT_FOUND, SUBSCRIBED, SUBSCRIBED),
    run: (fx, client) => subscribeCell(fx, client, fx.orderB),
  },
  {
    action: '`subscribe` to an unknown order',
    event: 'subscribe',
    expected: socketRow(NOT_FOUND, NOT_FOUND, NOT_FOUND),
    run: (fx, client) => subscribeCell(fx, client, randomUUID()),
  },
  {
    action: "live event of A's order (rooms `customer:<sub>`, `admin`)",
    expected: socketRow('received', 'not received', 'received'),
    run: liveEventCell,
  },
  {
    action: "live event of A's order after a `subscribe` to it (room `order:<id>`)",
    event: 'subscribe',
    expected: socketRow('received', 'not received', 'received'),
    async run(fx, client, principal) {
      await client.subscribe(fx.orderA, 0);
      return liveEventCell(fx, client, principal);
    },
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Documentation
// ---------------------------------------------------------------------------------------------------------------

function httpAction(row: HttpRow): string {
  return row.what === undefined ? `\`${row.route}\`` : `\`${row.route}\` ${row.what}`;
}

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The documentation's tables, keyed by their marker name. */
function renderedTables(): Record<string, string> {
  const labels = PRINCIPALS.map((principal) => PRINCIPAL_LABELS[principal]);
  return {
    principals: markdownTable(
      ['principal', 'credentials'],
      PRINCIPALS.map((principal) => [PRINCIPAL_LABELS[principal], PRINCIPAL_NOTES[principal]]),
    ),
    http: markdownTable(
      ['server', 'request', ...labels],
      HTTP_ROWS.map((row) => [row.server, httpAction(row), ...PRINCIPALS.map((principal) => row.expected[principal])]),
    ),
    socket: markdownTable(
      ['action', ...labels],
      SOCKET_ROWS.map((row) => [row.action, ...PRINCIPALS.map((principal) => row.expected[principal])]),
    ),
  };
}

const marker = (name: string, edge: 'start' | 'end'): string => `<!-- auth-matrix:${name}:${edge} -->`;

/** The cells of a markdown table (padding and separator rows ignored), so Prettier's alignment does not matter. */
function tableCells(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.trim().startsWith('|'))
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split('|')
        .map((cell) => cell.trim()),
    )
    .filter((cells) => !cells.every((cell) => /^:?-+:?$/.test(cell)));
}

function documentedSection(doc: string, name: string): string {
  const start = doc.indexOf(marker(name, 'start'));
  const end = doc.indexOf(marker(name, 'end'));
  if (start < 0 || end < start) throw new Error(`docs/authorization.md has no ${marker(name, 'start')} section`);
  return doc.slice(start + marker(name, 'start').length, end);
}

/** Rewrites the tables of docs/authorization.md (run Prettier on it afterwards). */
function updateDoc(): void {
  let doc = readFileSync(DOC_PATH, 'utf8');
  for (const [name, table] of Object.entries(renderedTables())) {
    const section = documentedSection(doc, name);
    doc = doc.replace(`${marker(name, 'start')}${section}`, `${marker(name, 'start')}\n\n${table}\n\n`);
  }
  writeFileSync(DOC_PATH, doc);
}

// ---------------------------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------------------------

const fx = {} as Fixtures;
let relay: TestRelay;
const servers: http.Server[] = [];
const sockets: TestClient[] = [];

async function listen(server: http.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const exportsDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-matrix-exports-'));

beforeAll(async () => {
  const h = await createApiHarness({ env: { EXPORTS_DIR: exportsDir } });
  const secret = h.config.jwtSecret;
  const suffix = randomUUID().slice(0, 8);
  const subs = { customerA: `alice-${suffix}`, customerB: `bob-${suffix}`, admin: `ops-${suffix}` };
  const inAnHour = Math.floor(Date.now() / 1000) + 3600;
  const tokens: Fixtures['tokens'] = {
    customerA: signToken(subs.customerA, secret),
    customerB: signToken(subs.customerB, secret),
    admin: signToken(subs.admin, secret, { role: 'admin' }),
    none: undefined,
    forged: jwt.sign({ role: 'admin' }, 'another-secret-0123456789abcdef0123', {
      subject: subs.customerA,
      expiresIn: 60,
    }),
    expired: jwt.sign({ role: 'admin', exp: Math.floor(Date.now() / 1000) - 120 }, secret, { subject: subs.customerA }),
    algNone: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: subs.customerA, role: 'admin', exp: inAnHour })}.`,
    wrongRole: jwt.sign({ role: 'superuser' }, secret, { subject: subs.customerA, expiresIn: 600 }),
    noSub: jwt.sign({ role: 'admin' }, secret, { expiresIn: 600 }),
  };

  const sku = uniqueSku('matrix');
  await insertProducts(h.db, [{ sku, stock: 100 }]);
  // A's and B's orders as rows with a first event: what reads, cancels and subscriptions need (no saga runs).
  const orderA = await createOrder(h.db, subs.customerA);
  const orderB = await createOrder(h.db, subs.customerB);
  await commitStatus(h.db, orderA, 'PENDING');
  await commitStatus(h.db, orderB, 'PENDING');
  const exportId = randomUUID();
  await h.db(TABLES.exports).insert({
    id: exportId,
    requested_by: subs.admin,
    format: 'csv',
    status: 'completed',
    cutoff: h.db.fn.now(),
    orders_total: 0,
    workflow_id: `matrix-export-${exportId}`,
    completed_at: h.db.fn.now(),
  });

  const logger = createLogger('auth-matrix', 'silent');
  const codecUrl = await listen(createCodecServer({ config: h.config, logger }));
  relay = await startRelay(h.config, h.db);
  const production = { ...h.config, nodeEnv: 'production' as const };
  const productionRelayUrl = await listen(
    http.createServer(createHttpRoutes({ config: production, logger, health: () => ({}) })),
  );
  const [encoded] = await createDataConverter(h.config).payloadCodecs![0]!.encode([
    defaultPayloadConverter.toPayload({ paymentToken: 'tok_matrix' }),
  ]);
  const encryptedPayload = {
    metadata: Object.fromEntries(
      Object.entries(encoded!.metadata!).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
    data: Buffer.from(encoded!.data!).toString('base64'),
  };
  Object.assign(fx, {
    h,
    sku,
    subs,
    tokens,
    orderA,
    orderB,
    exportId,
    codecUrl,
    relayUrl: relay.url,
    productionRelayUrl,
    encryptedPayload,
  } satisfies Fixtures);
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

afterAll(async () => {
  await relay?.close();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await fx.h?.close();
  rmSync(exportsDir, { recursive: true, force: true });
});

describe('coverage', () => {
  it('when the router and the OpenAPI document are listed, then every API route has a row of the matrix and every row a route', () => {
    const router = createRouter(
      {
        config: fx.h.config,
        db: fx.h.db,
        redis: fx.h.redis,
        temporal: fx.h.client,
        logger: createLogger('auth-matrix', 'silent'),
        options: resolveOptions(),
      },
      createMetrics(false),
    );
    const routed = router.stack.flatMap((layer) =>
      layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${String(layer.path)}`),
    );
    const documented = API_OPERATIONS.map((op) => `${op.method.toUpperCase()} ${op.path}`);
    const rows = HTTP_ROWS.filter((row) => row.server === 'API').map((row) => row.route);
    expect([...new Set(routed)].sort()).toEqual([...new Set(documented)].sort());
    expect([...new Set(rows)].sort()).toEqual([...new Set(routed)].sort());
    // Every API operation that needs a token is refused without one in the matrix, and only those.
    for (const op of API_OPERATIONS) {
      const opRows = HTTP_ROWS.filter(
        (row) => row.server === 'API' && row.route === `${op.method.toUpperCase()} ${op.path}`,
      );
      for (const row of opRows) expect(row.expected.none).toBe(op.auth ? '401 unauthorized' : '200');
    }
    expect(API_OPERATIONS.map((op) => openApiPath(op.path))).toContain('/orders/{id}/cancel');
  });

  it('when a socket is connected, then every client event the relay listens to has a row of the matrix', async () => {
    const client = await connectClient(fx.relayUrl, fx.tokens.customerA ?? '');
    sockets.push(client);
    const serverSide = relay.relay.io.of('/').sockets.get(client.socket.id ?? '');
    expect(serverSide).toBeDefined();
    // Socket.IO itself listens to `error` (a no-op); `disconnect*` are lifecycle events no client can send.
    const builtIn = new Set(['error', 'disconnect', 'disconnecting']);
    const listened = serverSide!.eventNames().filter((name) => typeof name === 'string' && !builtIn.has(name));
    const rows = new Set(SOCKET_ROWS.flatMap((row) => (row.event === undefined ? [] : [row.event])));
    expect(new Set(listened)).toEqual(rows);
  });
});

const httpCells = HTTP_ROWS.flatMap((row) =>
  PRINCIPALS.map((principal) => ({
    row,
    principal,
    who: PRINCIPAL_LABELS[principal],
    server: row.server,
    request: httpAction(row).replace(/`/g, ''),
    expected: row.expected[principal],
  })),
);

describe('HTTP', () => {
  test.each(httpCells)(
    'when $who calls the $server with $request, then $expected',
    async ({ row, principal, expected }) => {
      const answer = await row.send(fx, principal);
      const [status, error] = expected.split(' ');
      expect({ status: answer.status, error: (answer.body as { error?: unknown } | null)?.error }).toEqual({
        status: Number(status),
        error,
      });
      if (answer.status === 401) expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      if (answer.status < 300) row.verify?.(fx, principal, answer);
    },
  );

  it('when every API answer of the matrix is checked against the OpenAPI document, then all match', () => {
    expect(fx.h.exchanges.length).toBeGreaterThanOrEqual(HTTP_ROWS.filter((r) => r.server === 'API').length * 9);
    expect(undocumentedExchanges(fx.h.exchanges)).toEqual([]);
  });
});

const socketCells = SOCKET_ROWS.flatMap((row) =>
  PRINCIPALS.map((principal) => ({
    row,
    principal,
    who: PRINCIPAL_LABELS[principal],
    action: row.action.replace(/`/g, ''),
    expected: row.expected[principal],
  })),
);

describe('relay sockets', () => {
  test.each(socketCells)('when $who tries: $action, then $expected', async ({ row, principal, expected }) => {
    const token = fx.tokens[principal];
    if (expected === HANDSHAKE_REFUSED) {
      const socket = connectSocket(fx.relayUrl, {
        auth: token === undefined ? {} : { token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      try {
        const refusal = await new Promise<Error & { data?: unknown }>((resolve, reject) => {
          socket.once('connect_error', resolve);
          socket.once('connect', () => reject(new Error('the handshake was accepted')));
        });
        expect(refusal.message).toBe(REALTIME_ERRORS.unauthorized);
        expect(refusal.data).toMatchObject({ error: REALTIME_ERRORS.unauthorized });
      } finally {
        socket.close();
      }
      return;
    }
    const client = await connectClient(fx.relayUrl, token ?? '');
    sockets.push(client);
    expect(await row.run(fx, client, principal)).toBe(expected);
  });
});

describe('documentation', () => {
  it('when docs/authorization.md is read, then its tables are this matrix', () => {
    if (process.env.UPDATE_AUTH_MATRIX === '1') updateDoc();
    const doc = readFileSync(DOC_PATH, 'utf8');
    for (const [name, table] of Object.entries(renderedTables())) {
      expect({ name, cells: tableCells(documentedSection(doc, name)) }).toEqual({ name, cells: tableCells(table) });
    }
  });
});
