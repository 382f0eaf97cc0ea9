/**
 * SIGTERM under load, to each of our processes as a real child process (`node --import tsx <entry>`), the way a
 * rolling deploy stops them. The tests run in order on one stack (a worker, two API replicas, two relays behind a
 * TCP balancer), each replacing one process:
 *
 * - API: requests in flight finish, or get a retryable 503 when they outlive SHUTDOWN_GRACE; keep-alive clients are
 *   told to close (so they move to the other replica at once); new connections are refused; never a 5xx but 503,
 *   never a reset once the API has read a request. Every order placed through the failover exists once.
 * - worker: the charges in flight finish during the drain (the gateway is called once per order), the orders complete
 *   on the next worker, orders placed meanwhile wait for it, and the data invariants hold.
 * - relay: its clients reconnect to the other relay and catch up with `subscribe` + `lastSeq`, including the events
 *   committed while they had no relay at all; no terminal event is lost.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { signToken } from '../../lib/auth';
import { orderIdFor } from '../../api/idempotency';
import type { Config } from '../../lib/config';
import { TABLES } from '../../lib/db';
import { ORDER_STATUS_EVENT, SUBSCRIBE_EVENT } from '../../lib/events';
import { checkInvariants } from '../../lib/invariants';
import type { ClientOrderEvent, SubscribeAck } from '../../lib/realtime-protocol';
import { bundleOrderWorkflows } from '../../worker/create-worker';
import { isTerminal, paymentIdempotencyKey, type OrderStatus } from '../../workflows/definitions';
import { entryPointEnv, killEntryPoints, spawnEntryPoint, type EntryProcess } from '../support/processes';
import { orderRows, writeBundleFile, type BundleFile } from '../support/saga-helpers';
import { waitFor } from '../support/wait';
import { insertProducts, testConfig, testDb, testRedis, uniqueSku } from '../support/services';

/** SHUTDOWN_GRACE of the API processes: a request still running after it gets a 503. */
const API_GRACE_MS = 4_000;
/** tok_slow's charge takes this long, so charges are in flight when the worker is told to stop. */
const SLOW_MS = 1_500;
const PRICE_CENTS = 700;
/** Concurrent clients of the API load, each on its own keep-alive connection. */
const USERS = 6;

let config: Config;
let db: Knex;
let redis: Redis;
let bundleFile: BundleFile;
const sockets: Socket[] = [];
const initialStock = new Map<string, number>();

// ---------------------------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------------------------

/** Spawns `entry` with the stack's environment plus `env`, and resolves once it logs `readyMessage`. */
async function spawnProcess(
  name: string,
  entry: string,
  readyMessage: string,
  env: Record<string, string> = {},
): Promise<EntryProcess> {
  const proc = spawnEntryPoint(
    name,
    entry,
    entryPointEnv(config, {
      PORT: '0',
      REALTIME_PORT: '0',
      METRICS_PORT: '0',
      RATE_LIMIT_PER_MINUTE: '1000000',
      PAYMENT_SLOW_MS: String(SLOW_MS),
      WORKFLOW_BUNDLE_PATH: bundleFile.path,
      ...env,
    }),
  );
  await proc.waitForLog(readyMessage, 45_000);
  return proc;
}

const spawnApi = (name: string): Promise<EntryProcess> =>
  spawnProcess(name, 'api/main.ts', 'api listening', { SHUTDOWN_GRACE: `${API_GRACE_MS}ms` });
const spawnWorker = (name: string): Promise<EntryProcess> =>
  spawnProcess(name, 'worker/main.ts', 'worker polling', { SHUTDOWN_GRACE: '15s' });
const spawnRelay = (name: string): Promise<EntryProcess> =>
  spawnProcess(name, 'realtime/main.ts', 'reading the events stream', { SHUTDOWN_GRACE: '5s' });

function logged(proc: EntryProcess, message: string): boolean {
  return proc.logs.some((line) => line.msg === message);
}

/** The live processes of the stack; each test replaces one. */
const stack = {} as Record<'worker' | 'api1' | 'api2' | 'relay1' | 'relay2', EntryProcess>;

// ---------------------------------------------------------------------------------------------------------------
// HTTP load with failover
// ---------------------------------------------------------------------------------------------------------------

/** One HTTP exchange as a client saw it. */
interface Outcome {
  target: string;
  method: string;
  path: string;
  sentAt: number;
  doneAt: number;
  status?: number;
  body?: unknown;
  retryAfter?: string;
  connection?: string;
  /** Error code when no complete response arrived. */
  error?: string;
  /** The request went out on a kept-alive connection (Node's `request.reusedSocket`). */
  reused: boolean;
  /** Response headers had arrived when the error happened. */
  responseStarted: boolean;
}

/** Sends one request on `agent` (one client's keep-alive connection); never rejects. */
function exchange(
  agent: http.Agent,
  target: { name: string; url: string },
  method: string,
  requestPath: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Outcome> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const outcome: Outcome = {
    target: target.name,
    method,
    path: requestPath,
    sentAt: Date.now(),
    doneAt: 0,
    reused: false,
    responseStarted: false,
  };
  return new Promise((resolve) => {
    const req = http.request(`${target.url}${requestPath}`, {
      method,
      agent,
      headers: {
        ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
    });
    req.on('response', (res) => {
      outcome.responseStarted = true;
      outcome.status = res.statusCode;
      outcome.retryAfter = res.headers['retry-after'];
      outcome.connection = res.headers.connection;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          outcome.body = JSON.parse(text);
        } catch {
          outcome.body = text;
        }
        outcome.doneAt = Date.now();
        resolve(outcome);
      });
      res.on('error', (error: NodeJS.ErrnoException) => {
        outcome.status = undefined;
        outcome.error = error.code ?? error.message;
        outcome.doneAt = Date.now();
        resolve(outcome);
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      outcome.reused = req.reusedSocket;
      outcome.error = error.code ?? error.message;
      outcome.doneAt = Date.now();
      resolve(outcome);
    });
    req.end(payload);
  });
}

/**
 * What a client may retry on another replica: a refused connection (nothing was sent), a 503 (nothing to keep), and a
 * kept-alive connection the server closed as idle just as the request went out (no response byte; HTTP/1.1 lets a
 * server close an idle connection at any time, and Node's docs tell clients to retry on `reusedSocket`).
 */
function retryable(outcome: Outcome): boolean {
  if (outcome.status === 503) return true;
  if (outcome.error === 'ECONNREFUSED') return true;
  return outcome.error !== undefined && outcome.reused && !outcome.responseStarted;
}

const apiTargets = (): { name: string; url: string }[] => [
  { name: 'api1', url: stack.api1.url() },
  { name: 'api2', url: stack.api2.url() },
];

/** Orders placed through the load, by idempotency key (each key must end as one order). */
interface Placed {
  customerId: string;
  key: string;
  orderId?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Realtime clients behind a balancer
// ---------------------------------------------------------------------------------------------------------------

/** A TCP balancer: each new connection goes to the first backend that accepts it, or is dropped while paused. */
interface Balancer {
  url: string;
  paused: boolean;
  close(): Promise<void>;
}

async function startBalancer(backends: number[]): Promise<Balancer> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const balancer = { paused: false } as Balancer;
  const server = net.createServer((client) => {
    track(client);
    if (balancer.paused) {
      client.destroy();
      return;
    }
    const attempt = (index: number): void => {
      const port = backends[index];
      if (port === undefined) {
        client.destroy();
        return;
      }
      const upstream = net.connect(port, '127.0.0.1');
      let connected = false;
      track(upstream);
      upstream.once('error', () => {
        if (!connected) attempt(index + 1);
      });
      upstream.once('connect', () => {
        connected = true;
        client.pipe(upstream);
        upstream.pipe(client);
        client.once('close', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  balancer.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  balancer.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return balancer;
}

/** A client following its orders the way docs/realtime.md asks: dedupe by seq, resubscribe from `lastSeq` on connect. */
interface Follower {
  customerId: string;
  socket: Socket;
  connects: number;
  /** Received statuses by order and seq (duplicates collapse). */
  events: Map<string, Map<number, OrderStatus>>;
  follow(orderId: string): Promise<void>;
}

async function startFollower(url: string, customerId: string): Promise<Follower> {
  const socket = connectSocket(url, {
    auth: { token: signToken(customerId, config.jwtSecret) },
    transports: ['websocket'],
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    forceNew: true,
  });
  sockets.push(socket);
  const followed = new Set<string>();
  const follower: Follower = { customerId, socket, connects: 0, events: new Map(), follow: () => Promise.resolve() };
  /** The highest seq held without a gap: what `lastSeq` must be. */
  const contiguous = (orderId: string): number => {
    const seen = follower.events.get(orderId);
    let seq = 0;
    while (seen?.has(seq + 1)) seq += 1;
    return seq;
  };
  const subscribe = async (orderId: string): Promise<void> => {
    const ack = (await socket
      .timeout(10_000)
      .emitWithAck(SUBSCRIBE_EVENT, { orderId, lastSeq: contiguous(orderId) })) as SubscribeAck;
    if (!ack.ok) throw new Error(`subscribe ${orderId}: ${ack.error}`);
  };
  socket.on(ORDER_STATUS_EVENT, (event: ClientOrderEvent) => {
    const seen = follower.events.get(event.orderId) ?? new Map<number, OrderStatus>();
    follower.events.set(event.orderId, seen.set(event.seq, event.status));
  });
  socket.on('connect', () => {
    follower.connects += 1;
    // A resubscribe that fails (the connection dropped again) is retried on the next connect.
    if (follower.connects > 1) for (const orderId of followed) void subscribe(orderId).catch(() => undefined);
  });
  follower.follow = async (orderId) => {
    followed.add(orderId);
    await subscribe(orderId);
  };
  await waitFor(`${customerId} to connect`, () => (socket.connected ? true : undefined), 10_000);
  return follower;
}

// ---------------------------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------------------------

async function newProduct(label: string, stock: number): Promise<string> {
  const sku = uniqueSku(label);
  await insertProducts(db, [{ sku, stock, priceCents: PRICE_CENTS }]);
  initialStock.set(sku, stock);
  return sku;
}

/**
 * Places an order on `apiUrl` with an Idempotency-Key, as a careful client does: a 503 (no worker polled within the
 * API's deadline) is retried with the same key, which can never create a second order. Resolves with the order id.
 */
async function placeOrder(apiUrl: string, customerId: string, sku: string, paymentToken: string): Promise<string> {
  const key = randomUUID();
  for (let attempt = 1; ; attempt += 1) {
    const response = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${signToken(customerId, config.jwtSecret)}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify({ items: [{ sku, quantity: 1 }], payment: { token: paymentToken } }),
    });
    const body = (await response.json()) as { orderId?: string };
    if (response.status === 201 && body.orderId !== undefined) return body.orderId;
    if (response.status !== 503 || attempt === 3) {
      throw new Error(`POST /orders answered ${response.status}: ${JSON.stringify(body)}`);
    }
  }
}

async function statusesOf(orderIds: readonly string[]): Promise<Map<string, OrderStatus>> {
  const rows = await db(TABLES.orders)
    .whereIn('id', [...orderIds])
    .select<{ id: string; status: OrderStatus }[]>('id', 'status');
  return new Map(rows.map((row) => [row.id, row.status]));
}

async function waitForStatuses(what: string, orderIds: readonly string[], done: (status: OrderStatus) => boolean) {
  await waitFor(
    what,
    async () => {
      const statuses = await statusesOf(orderIds);
      return orderIds.every((id) => {
        const status = statuses.get(id);
        return status !== undefined && done(status);
      })
        ? true
        : undefined;
    },
    30_000,
  );
}

async function gatewayCalls(orderId: string): Promise<number> {
  const row = await db<{ attempts: number }>('payment_attempts')
    .where('idempotency_key', paymentIdempotencyKey(orderId))
    .first('attempts');
  return row?.attempts ?? 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Suite
// ---------------------------------------------------------------------------------------------------------------

beforeAll(async () => {
  config = testConfig({ PAYMENT_SLOW_MS: String(SLOW_MS) });
  db = testDb(config, 4);
  redis = testRedis(config);
  bundleFile = writeBundleFile(await bundleOrderWorkflows());
  [stack.worker, stack.api1, stack.api2, stack.relay1, stack.relay2] = await Promise.all([
    spawnWorker('worker-1'),
    spawnApi('api-1'),
    spawnApi('api-2'),
    spawnRelay('relay-1'),
    spawnRelay('relay-2'),
  ]);
}, 90_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  killEntryPoints();
  await Promise.allSettled([db?.destroy(), redis?.quit()]);
  bundleFile?.remove();
});

test('when an API replica gets SIGTERM under load, then requests finish or get a retryable 503, clients move to the other replica, and every order exists once', async () => {
  const loadSku = await newProduct('shutdown-load', 10_000);
  const heldSku = await newProduct('shutdown-held', 10);
  const suffix = randomUUID().slice(0, 8);
  const outcomes: Outcome[] = [];
  const placed: Placed[] = [];
  let stop = false;
  let sigtermAt = Number.POSITIVE_INFINITY;

  /** Sends on the client's preferred replica; on a retryable failure moves to the next one, as a balancer would. */
  const call = async (
    client: { agent: http.Agent; replica: number },
    method: string,
    requestPath: string,
    options: { token: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<Outcome> => {
    for (;;) {
      const target = apiTargets()[client.replica];
      if (target === undefined) throw new Error('no replica left');
      const outcome = await exchange(client.agent, target, method, requestPath, options);
      outcomes.push(outcome);
      if (!retryable(outcome) || client.replica === 1) return outcome;
      client.replica = 1;
    }
  };

  const user = async (index: number): Promise<void> => {
    const customerId = `load-${index}-${suffix}`;
    const token = signToken(customerId, config.jwtSecret);
    const client = { agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), replica: 0 };
    try {
      while (!stop) {
        const order: Placed = { customerId, key: randomUUID() };
        placed.push(order);
        const created = await call(client, 'POST', '/orders', {
          token,
          headers: { 'idempotency-key': order.key },
          body: { items: [{ sku: loadSku, quantity: 1 }], payment: { token: 'tok_ok' } },
        });
        if (created.status === 201) {
          order.orderId = (created.body as { orderId: string }).orderId;
          await call(client, 'GET', `/orders/${order.orderId}`, { token });
        }
        await call(client, 'GET', '/products', { token });
      }
    } finally {
      client.agent.destroy();
    }
  };

  // A request that cannot finish within the grace period: its reservation waits for a product row the test locks.
  const lock = await db.transaction();
  await lock(TABLES.products).where('sku', heldSku).forUpdate().select('id');
  const heldCustomer = `held-${suffix}`;
  const heldKey = randomUUID();
  const heldRequest = {
    token: signToken(heldCustomer, config.jwtSecret),
    headers: { 'idempotency-key': heldKey },
    body: { items: [{ sku: heldSku, quantity: 1 }], payment: { token: 'tok_ok' } },
  };
  const heldAgent = new http.Agent({ keepAlive: false });
  const held = exchange(heldAgent, { name: 'api1', url: stack.api1.url() }, 'POST', '/orders', heldRequest);

  const users = Array.from({ length: USERS }, (_, index) => user(index));
  try {
    await waitFor('the load to run on api1 and the held reservation to wait for its lock', async () => {
      const served = outcomes.filter((o) => o.target === 'api1' && o.status === 201).length;
      const waiting = await db.raw<{ rows: { n: number }[] }>(
        "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
      );
      return served >= USERS && (waiting.rows[0]?.n ?? 0) > 0 ? true : undefined;
    });

    sigtermAt = Date.now();
    stack.api1.child.kill('SIGTERM');
    await waitFor('api1 to refuse new connections', () =>
      fetch(`${stack.api1.url()}/health`).then(
        () => undefined,
        () => true,
      ),
    );
    const exitCode = await stack.api1.exited;
    const exitedAt = Date.now();
    await waitFor('the load to run on api2', () =>
      outcomes.filter((o) => o.target === 'api2' && o.doneAt > exitedAt && o.status === 201).length >= 6
        ? true
        : undefined,
    );
    stop = true;
    await Promise.all(users);

    // The held request outlived the grace period: a 503 it may retry, not a reset.
    const heldOutcome = await held;
    expect(heldOutcome).toMatchObject({
      status: 503,
      retryAfter: expect.stringMatching(/^\d+$/),
      connection: 'close',
      body: { error: 'service_unavailable' },
    });
    expect(heldOutcome.doneAt - sigtermAt).toBeGreaterThanOrEqual(API_GRACE_MS - 500);
    expect(exitCode).toBe(0);
    expect(logged(stack.api1, 'stopped')).toBe(true);

    // Every answer is a success or a retryable 503; no 500, no reset once the API has read a request.
    const unexpected = outcomes.filter(
      (o) =>
        (o.status !== undefined && ![200, 201, 503].includes(o.status)) ||
        (o.status === 503 && o.retryAfter === undefined) ||
        (o.error !== undefined && !retryable(o)),
    );
    expect(unexpected).toEqual([]);
    // From the moment api1 started its drain, every response told the client to close its connection, so each
    // keep-alive client sent at most one more request there and then moved to api2, instead of keeping api1 busy
    // until the grace period ended.
    const drainStartedAt = Date.parse(String(stack.api1.logs.find((l) => l.msg === 'shutting down')?.time));
    expect(drainStartedAt).toBeGreaterThanOrEqual(sigtermAt);
    const servedDuringDrain = outcomes.filter(
      (o) => o.target === 'api1' && o.status !== undefined && o.sentAt > drainStartedAt,
    );
    expect(servedDuringDrain.filter((o) => o.connection !== 'close')).toEqual([]);
    expect(servedDuringDrain.length).toBeLessThanOrEqual(USERS);
    // A connection idle at that moment was closed; a request its client sent at the same instant was never read.
    const racedIdleCloses = outcomes.filter((o) => o.error !== undefined && o.reused);
    expect(racedIdleCloses.length).toBeLessThanOrEqual(USERS);
    expect(racedIdleCloses.every((o) => o.target === 'api1' && o.doneAt >= drainStartedAt)).toBe(true);
  } finally {
    stop = true;
    await lock.rollback().catch(() => undefined);
    heldAgent.destroy();
  }

  // The 503'd order goes on once its lock is free; the same key on the other replica returns it.
  const retried = await exchange(new http.Agent(), { name: 'api2', url: stack.api2.url() }, 'POST', '/orders', {
    ...heldRequest,
  });
  expect(retried).toMatchObject({ status: 201, body: { orderId: orderIdFor(heldCustomer, heldKey) } });

  // Every order the load meant to place got its 201 (through the failover if need be), and exists exactly once.
  expect(placed.filter((order) => order.orderId === undefined)).toEqual([]);
  const orderIds = placed.map((order) => order.orderId ?? '');
  const rows = await db(TABLES.orders)
    .whereIn('customer_id', [...new Set(placed.map((order) => order.customerId))])
    .pluck<string[]>('id');
  expect([...rows].sort()).toEqual([...orderIds].sort());
  await waitForStatuses('the load orders to complete', [...orderIds, orderIdFor(heldCustomer, heldKey)], isTerminal);
  expect(
    await checkInvariants(db, {
      initialStock: new Map([...initialStock].filter(([sku]) => sku === loadSku || sku === heldSku)),
    }),
  ).toEqual([]);
});

test('when the worker gets SIGTERM with charges in flight, then it drains them, the next worker completes every order, and nothing is charged twice', async () => {
  const sku = await newProduct('shutdown-drain', 50);
  const apiUrl = stack.api2.url();
  const customers = Array.from({ length: 6 }, (_, index) => `drain-${index}-${randomUUID().slice(0, 8)}`);
  const inFlight = await Promise.all(customers.map((customerId) => placeOrder(apiUrl, customerId, sku, 'tok_slow')));
  await waitFor('every charge to be inside the gateway', async () => {
    const calls = await Promise.all(inFlight.map(gatewayCalls));
    return calls.every((count) => count >= 1) ? true : undefined;
  });

  const draining = stack.worker;
  draining.child.kill('SIGTERM');
  // Orders placed while no worker polls: their requests wait for the next worker (the API's deadline is 15 s).
  const waiting = customers.slice(0, 3).map((customerId) => placeOrder(apiUrl, customerId, sku, 'tok_ok'));
  await expect(draining.exited).resolves.toBe(0);
  expect(logged(draining, 'worker drained')).toBe(true);
  // The drain let every charge in flight finish: approved once, by the only gateway call.
  for (const orderId of inFlight) {
    expect((await orderRows(db, orderId)).payments).toMatchObject([{ status: 'approved', attempts: 1 }]);
  }

  stack.worker = await spawnWorker('worker-2');
  const placedMeanwhile = await Promise.all(waiting);
  const orderIds = [...inFlight, ...placedMeanwhile];
  await waitForStatuses('every order to complete on the next worker', orderIds, (status) => status === 'COMPLETED');
  for (const orderId of orderIds) {
    const rows = await orderRows(db, orderId);
    expect(rows.payments).toMatchObject([{ status: 'approved', attempts: 1, amount_cents: String(PRICE_CENTS) }]);
    expect(rows.reservations.map((reservation) => reservation.status)).toEqual(['committed']);
    expect(await gatewayCalls(orderId)).toBe(1);
  }
  expect(await checkInvariants(db, { initialStock: new Map([[sku, 50]]), orderIds })).toEqual([]);
});

test('when a relay gets SIGTERM while orders progress, then its clients reconnect to the other relay and catch up with lastSeq, terminal events included', async () => {
  const sku = await newProduct('shutdown-relay', 50);
  const port = (proc: EntryProcess): number => Number(new URL(proc.url()).port);
  const balancer = await startBalancer([port(stack.relay1), port(stack.relay2)]);
  const followers: Follower[] = [];
  try {
    for (let index = 0; index < 8; index += 1) {
      followers.push(await startFollower(balancer.url, `watcher-${index}-${randomUUID().slice(0, 8)}`));
    }
    const apiUrl = stack.api2.url();
    const orders = await Promise.all(
      followers.map(async (follower) => {
        const orderId = await placeOrder(apiUrl, follower.customerId, sku, 'tok_slow');
        await follower.follow(orderId);
        return { follower, orderId };
      }),
    );
    const orderIds = orders.map((order) => order.orderId);
    await waitForStatuses('every order to be charging', orderIds, (status) => status === 'CHARGING');

    // No relay at all for a while (the balancer refuses), so the orders finish while their clients are away.
    balancer.paused = true;
    stack.relay1.child.kill('SIGTERM');
    await expect(stack.relay1.exited).resolves.toBe(0);
    await waitFor('every client to notice', () => (followers.every((f) => !f.socket.connected) ? true : undefined));
    await waitForStatuses('every order to finish', orderIds, isTerminal);
    balancer.paused = false;

    await waitFor('every client to reconnect and catch up', async () => {
      const stored = await db(TABLES.orderEvents)
        .whereIn('order_id', orderIds)
        .select<{ order_id: string; seq: number }[]>('order_id', 'seq');
      return orders.every(
        ({ follower, orderId }) =>
          follower.socket.connected &&
          stored
            .filter((row) => row.order_id === orderId)
            .every((row) => follower.events.get(orderId)?.has(row.seq) === true),
      )
        ? true
        : undefined;
    });
    const relay2Health = (await (await fetch(`${stack.relay2.url()}/health`)).json()) as { clients: number };
    expect(relay2Health.clients).toBe(followers.length);
    for (const { follower, orderId } of orders) {
      const stored = (await orderRows(db, orderId)).events;
      const received = [...(follower.events.get(orderId) ?? new Map<number, OrderStatus>())].sort(([a], [b]) => a - b);
      expect(received).toEqual(stored.map((event) => [event.seq, event.status]));
      expect(received.at(-1)?.[1]).toBe('COMPLETED');
      expect(follower.connects).toBe(2);
    }
  } finally {
    for (const follower of followers) follower.socket.close();
    await balancer.close();
  }
});
