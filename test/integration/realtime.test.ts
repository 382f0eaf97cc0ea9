/**
 * The relay on real Redis and PostgreSQL: rooms, order, replay with lastSeq, refusals, and its HTTP routes.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { io as connect } from 'socket.io-client';
import type { Config } from '../../lib/config';
import { ORDER_STATUS_EVENT, SUBSCRIBE_EVENT } from '../../lib/events';
import { createLogger } from '../../lib/logger';
import { REALTIME_ERRORS } from '../../lib/realtime-protocol';
import { createHttpRoutes } from '../../realtime/http';
import { createRelay } from '../../realtime/relay';
import {
  commitStatus,
  createOrder,
  HAPPY_PATH,
  recordStatus,
  startRelay,
  tokenFor,
  useRelays,
} from './realtime.support';
import { until } from '../support/wait';

describe('realtime relay', () => {
  const h = useRelays(1);

  test('when an order goes PENDING to COMPLETED, then its subscriber receives every status once in seq order, another customer nothing, and an admin everything', async () => {
    const alice = `alice-${randomUUID()}`;
    const orderId = await createOrder(h.db, alice);
    const owner = await h.client(h.relay(), alice);
    const stranger = await h.client(h.relay(), `bob-${randomUUID()}`);
    const admin = await h.client(h.relay(), `ops-${randomUUID()}`, 'admin');
    expect(await owner.subscribe(orderId)).toEqual({ ok: true });

    for (const status of HAPPY_PATH) await recordStatus(h.db, h.redis, h.config, orderId, status, { step: status });

    await until(
      'owner and admin receive COMPLETED',
      () => owner.of(orderId).length === 5 && admin.of(orderId).length === 5,
    );
    expect(owner.of(orderId).map((event) => [event.seq, event.status])).toEqual(
      HAPPY_PATH.map((status, i) => [i + 1, status]),
    );
    expect(admin.of(orderId).map((event) => event.status)).toEqual(HAPPY_PATH);
    const completed = owner.of(orderId)[4];
    expect(completed).toEqual({
      orderId,
      seq: 5,
      status: 'COMPLETED',
      at: expect.any(String),
      detail: { step: 'COMPLETED' },
    });
    expect(Object.keys(completed ?? {})).not.toContain('customerId');
    // A later event for another order proves the stranger's socket was live all along.
    const strangerOrder = await createOrder(h.db, `other-${randomUUID()}`);
    await recordStatus(h.db, h.redis, h.config, strangerOrder, 'PENDING');
    await until('admin receives the later event', () => admin.of(strangerOrder).length === 1);
    expect(stranger.received).toEqual([]);
  });

  test('when a customer is connected without subscribing, then its room still receives every status of its orders', async () => {
    const carol = `carol-${randomUUID()}`;
    const orderId = await createOrder(h.db, carol);
    const watcher = await h.client(h.relay(), carol);
    for (const status of HAPPY_PATH) await recordStatus(h.db, h.redis, h.config, orderId, status);
    await until('COMPLETED arrives', () => watcher.of(orderId).length === 5);
    expect(watcher.of(orderId).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  test('when a late subscriber gives lastSeq, then it receives exactly the missed events, then the live ones', async () => {
    const dave = `dave-${randomUUID()}`;
    const orderId = await createOrder(h.db, dave);
    for (const status of HAPPY_PATH.slice(0, 3)) await recordStatus(h.db, h.redis, h.config, orderId, status);
    const late = await h.client(h.relay(), dave);
    expect(await late.subscribe(orderId, 1)).toEqual({ ok: true });
    expect(late.of(orderId).map((event) => event.status)).toEqual(['RESERVED', 'CHARGING']);
    for (const status of HAPPY_PATH.slice(3)) await recordStatus(h.db, h.redis, h.config, orderId, status);

    await until('COMPLETED arrives', () => late.of(orderId).some((event) => event.status === 'COMPLETED'));
    expect(late.of(orderId).map((event) => event.seq)).toEqual([2, 3, 4, 5]);
  });

  test('when an admin subscribes to any order without lastSeq, then it receives the whole history', async () => {
    const orderId = await createOrder(h.db, `erin-${randomUUID()}`);
    for (const status of HAPPY_PATH) await commitStatus(h.db, orderId, status);
    const admin = await h.client(h.relay(), `ops-${randomUUID()}`, 'admin');
    expect(await admin.subscribe(orderId)).toEqual({ ok: true });
    expect(admin.of(orderId).map((event) => event.status)).toEqual(HAPPY_PATH);
  });

  test('when a client subscribes while events stream in, then the replay meets the live events with no gap and no duplicate', async () => {
    const frank = `frank-${randomUUID()}`;
    const orderId = await createOrder(h.db, frank);
    const total = 60;
    let committed = 0;
    const producer = (async () => {
      for (let i = 1; i <= total; i += 1) {
        await recordStatus(h.db, h.redis, h.config, orderId, i === total ? 'COMPLETED' : 'CHARGING', { i });
        committed = i;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await until('the stream is under way', () => committed >= 10);
    const late = await h.client(h.relay(), frank);
    let atAck = -1;
    const committedAtSubscribe = committed;
    late.socket.emit(SUBSCRIBE_EVENT, { orderId }, () => {
      atAck = late.received.length;
    });
    await producer;
    await until('COMPLETED arrives', () => late.of(orderId).some((event) => event.seq === total));
    await until('the ack arrived', () => atAck >= 0);
    expect(committedAtSubscribe).toBeLessThan(total);
    const seqs = late.of(orderId).map((event) => event.seq);
    const beforeAck = seqs.slice(0, atAck);
    const afterAck = seqs.slice(atAck);
    // Before the ack: perhaps a few live events from the customer room (the socket joined it at the handshake), then
    // the replay 1..high. After the ack: exactly high+1..total, each once, in order.
    const high = Math.max(...beforeAck);
    const replayStart = beforeAck.lastIndexOf(1);
    expect(beforeAck.slice(replayStart)).toEqual(Array.from({ length: high }, (_, i) => i + 1));
    expect(afterAck).toEqual(Array.from({ length: total - high }, (_, i) => high + 1 + i));
  });

  test("when a customer subscribes to another customer's order, then the ack is not_found and nothing is delivered", async () => {
    const orderId = await createOrder(h.db, `grace-${randomUUID()}`);
    await recordStatus(h.db, h.redis, h.config, orderId, 'PENDING');
    const mallory = await h.client(h.relay(), `mallory-${randomUUID()}`);
    expect(await mallory.subscribe(orderId)).toEqual({ ok: false, error: REALTIME_ERRORS.notFound });
    expect(await mallory.subscribe(randomUUID())).toEqual({ ok: false, error: REALTIME_ERRORS.notFound });
    await recordStatus(h.db, h.redis, h.config, orderId, 'RESERVED');
    const admin = await h.client(h.relay(), `ops-${randomUUID()}`, 'admin');
    await recordStatus(h.db, h.redis, h.config, orderId, 'CHARGING');
    await until('the admin sees CHARGING', () => admin.of(orderId).length === 1);
    expect(mallory.received).toEqual([]);
  });

  test.each([
    ['no payload', undefined, 'payload'],
    ['a string', 'not-an-object', 'payload'],
    ['an orderId that is not a uuid', { orderId: 'order-1' }, 'orderId'],
    ['an orderId with U+0000', { orderId: `${randomUUID()}\u0000` }, 'orderId'],
    ['an orderId with a lone surrogate', { orderId: `${randomUUID().slice(0, 35)}\ud800` }, 'orderId'],
    ['a negative lastSeq', { orderId: randomUUID(), lastSeq: -1 }, 'lastSeq'],
    ['a fractional lastSeq', { orderId: randomUUID(), lastSeq: 1.5 }, 'lastSeq'],
    ['an unknown field', { orderId: randomUUID(), since: 3 }, 'since'],
  ])(
    'when the subscribe payload is %s, then the ack is validation_failed naming the field',
    async (_l, payload, field) => {
      const henry = await h.client(h.relay(), `henry-${randomUUID()}`);
      expect(await henry.subscribeRaw(payload)).toEqual({
        ok: false,
        error: REALTIME_ERRORS.validationFailed,
        field,
        message: expect.any(String),
      });
      expect(henry.received).toEqual([]);
    },
  );

  const badTokens: [string, (config: Config) => Record<string, unknown>][] = [
    ['no token', () => ({})],
    ['a token that is not a string', () => ({ token: 42 })],
    [
      'a token signed with another secret',
      () => ({ token: jwt.sign({ sub: 'x', role: 'admin' }, 'another-secret-0123456789abcdef', { expiresIn: 60 }) }),
    ],
    [
      'an unsigned token (alg none)',
      () => ({ token: jwt.sign({ sub: 'x', role: 'admin', exp: 9_999_999_999 }, '', { algorithm: 'none' }) }),
    ],
    [
      'an HS512 token',
      (c) => ({ token: jwt.sign({ sub: 'x', role: 'admin' }, c.jwtSecret, { algorithm: 'HS512', expiresIn: 60 }) }),
    ],
    [
      'an expired token',
      (c) => ({ token: jwt.sign({ sub: 'x', role: 'admin', exp: Math.floor(Date.now() / 1000) - 60 }, c.jwtSecret) }),
    ],
    ['a token without a role', (c) => ({ token: jwt.sign({ sub: 'x' }, c.jwtSecret, { expiresIn: 60 }) })],
    [
      'a token with an unknown role',
      (c) => ({ token: jwt.sign({ sub: 'x', role: 'root' }, c.jwtSecret, { expiresIn: 60 }) }),
    ],
    [
      'a token whose sub holds U+0000',
      (c) => ({ token: jwt.sign({ sub: 'x\u0000y', role: 'admin' }, c.jwtSecret, { expiresIn: 60 }) }),
    ],
    [
      'a token whose sub holds a lone surrogate',
      (c) => ({ token: jwt.sign({ sub: 'x\ud800', role: 'customer' }, c.jwtSecret, { expiresIn: 60 }) }),
    ],
  ];

  test.each(badTokens)(
    'when the handshake carries %s, then the connection is refused as unauthorized',
    async (_label, auth) => {
      const socket = connect(h.relay().url, {
        auth: auth(h.config),
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      const received: unknown[] = [];
      socket.on(ORDER_STATUS_EVENT, (event: unknown) => received.push(event));
      const error = await new Promise<Error & { data?: unknown }>((resolve) => socket.once('connect_error', resolve));
      socket.close();
      expect(error.message).toBe(REALTIME_ERRORS.unauthorized);
      expect(error.data).toEqual({ error: REALTIME_ERRORS.unauthorized, message: expect.any(String) });
      expect(socket.connected).toBe(false);
      expect(received).toEqual([]);
    },
  );

  test('when a client connects before the relay reads the stream, then its handshake completes only once start() has', async () => {
    const early = createRelay({
      config: h.config,
      db: h.db,
      logger: createLogger('realtime-test', 'error'),
      options: { blockMs: 1000 },
    });
    const address = await early.listen(0, '127.0.0.1');
    const socket = connect(`http://127.0.0.1:${address.port}`, {
      auth: { token: tokenFor(h.config, `ivy-${randomUUID()}`) },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    try {
      let connected = false;
      socket.on('connect', () => (connected = true));
      await until('the transport is open', () => early.io.engine.clientsCount === 1);
      await new Promise((resolve) => setTimeout(resolve, 150)); // ample for an ungated handshake on loopback
      expect(connected).toBe(false);
      await early.start();
      await until('the handshake completes', () => connected);
    } finally {
      socket.close();
      await early.close();
    }
  });

  test('when /health is requested, then it answers 200 JSON with the stream reader state', async () => {
    const response = await fetch(`${h.relay().url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ok',
      stream: { connected: true, lastId: expect.any(String) },
      clients: expect.any(Number),
    });
  });

  test('when the demo page, its config and the Socket.IO client bundle are requested, then the relay serves them', async () => {
    const page = await fetch(`${h.relay().url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(await page.text()).toContain('/socket.io/socket.io.js');
    const style = await fetch(`${h.relay().url}/style.css`, { method: 'HEAD' });
    expect([style.status, style.headers.get('content-type')]).toEqual([200, 'text/css; charset=utf-8']);
    expect((await fetch(`${h.relay().url}/no-such-file.js`)).status).toBe(404);
    const bundle = await fetch(`${h.relay().url}/socket.io/socket.io.js`);
    expect(bundle.status).toBe(200);
    const pageConfig = await fetch(`${h.relay().url}/config.json`);
    expect(await pageConfig.json()).toEqual({ apiUrl: `http://127.0.0.1:${h.config.apiPort}`, devTokens: true });
    expect((await fetch(`${h.relay().url}/../package.json`)).status).toBe(404);
    expect((await fetch(`${h.relay().url}/%2e%2e%2fpackage.json`)).status).toBe(404);
    expect((await fetch(`${h.relay().url}/health`, { method: 'POST' })).status).toBe(405);
  });

  test('when the page directory holds hidden files, precompressed copies or folders, then only its files are served', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-public-'));
    writeFileSync(path.join(dir, 'index.html'), '<p>page</p>');
    writeFileSync(path.join(dir, '.env'), 'SECRET=1');
    writeFileSync(path.join(dir, 'app.js.gz'), 'not what app.js says');
    writeFileSync(path.join(dir, 'app.js'), 'console.log(1);');
    mkdirSync(path.join(dir, 'folder'));
    const routes = createHttpRoutes({
      config: h.config,
      logger: createLogger('relay', 'silent'),
      publicDir: dir,
      health: () => ({}),
    });
    const server = http.createServer(routes);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${url}/`)).text()).toBe('<p>page</p>');
      const script = await fetch(`${url}/app.js`, { headers: { 'Accept-Encoding': 'gzip' } });
      expect([script.headers.get('content-encoding'), await script.text()]).toEqual([null, 'console.log(1);']);
      for (const hidden of ['/.env', '/%2e%2e%2fpackage.json', '/folder', '/folder/', '/app']) {
        expect([hidden, (await fetch(`${url}${hidden}`)).status]).toEqual([hidden, 404]);
      }
      const options = await fetch(`${url}/`, { method: 'OPTIONS' });
      expect([options.status, options.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('when a dev token is requested outside production, then it is a valid customer or admin token', async () => {
    const response = await fetch(`${h.relay().url}/dev-token?customer=demo-1&role=admin`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { token: string; customerId: string; role: string };
    expect(body).toMatchObject({ customerId: 'demo-1', role: 'admin' });
    expect(jwt.verify(body.token, h.config.jwtSecret, { algorithms: ['HS256'] })).toMatchObject({
      sub: 'demo-1',
      role: 'admin',
    });
    expect((await fetch(`${h.relay().url}/dev-token?customer=${'x'.repeat(200)}`)).status).toBe(400);
  });

  test.each([
    ['an unknown parameter', '?customer=demo-1&admin=1', 'admin'],
    ['a repeated parameter', '?customer=a&customer=b', 'customer'],
    ['an unknown role (it used to become customer silently)', '?role=root', 'role'],
    ['U+0000 in the customer', '?customer=a%00b', 'customer'],
  ])('when a dev token is requested with %s (%s), then it is a 400 naming %s', async (_label, query, field) => {
    const response = await fetch(`${h.relay().url}/dev-token${query}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'validation_failed',
      field,
      message: expect.stringMatching(/^.+: /),
    });
  });

  test('when the relay runs in production, then /dev-token does not exist', async () => {
    const production: Config = { ...h.config, nodeEnv: 'production' };
    const prodRelay = await startRelay(production, h.db);
    try {
      const response = await fetch(`${prodRelay.url}/dev-token?customer=demo`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: 'not_found' });
    } finally {
      await prodRelay.close();
    }
  });
});
