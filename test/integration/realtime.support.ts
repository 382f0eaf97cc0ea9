/**
 * Helpers of the realtime suites: a relay on an ephemeral port, Socket.IO clients that record what they receive,
 * a harness that sets both up around a suite, and a stand-in for the status activity (commit `orders` +
 * `order_events`, then publish to the stream).
 */
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Knex } from 'knex';
import { io as connect, type Socket } from 'socket.io-client';
import type { Config } from '../../lib/config';
import { TABLES } from '../../lib/db';
import { ORDER_STATUS_EVENT, publishOrderEvent, SUBSCRIBE_EVENT, type OrderEvent } from '../../lib/events';
import { createLogger } from '../../lib/logger';
import { createRedis } from '../../lib/redis';
import type { OrderStatus } from '../../workflows/definitions';
import { signToken } from '../../lib/auth';
import type { ClientOrderEvent, SubscribeAck } from '../../lib/realtime-protocol';
import { createRelay, type Relay, type RelayOptions } from '../../realtime/relay';
import { testConfig, testDb, testRedis } from '../support/services';

/** The happy path of an order, in order. */
export const HAPPY_PATH: OrderStatus[] = ['PENDING', 'RESERVED', 'CHARGING', 'PAID', 'COMPLETED'];

/** A relay started on an ephemeral (or given) port, with quick timings for tests. */
export interface TestRelay {
  relay: Relay;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Creates, starts and listens a relay. */
export async function startRelay(
  config: Config,
  db: Knex,
  options: { port?: number; relay?: Partial<RelayOptions>; redisUrl?: string } = {},
): Promise<TestRelay> {
  const redisUrl = options.redisUrl ?? config.redisUrl;
  const relay = createRelay({
    config,
    db,
    logger: createLogger('realtime-test', 'error'),
    createRedisClient: (redisOptions: RedisOptions) => createRedis(redisUrl, redisOptions),
    options: { blockMs: 1000, maxBackoffMs: 200, ...options.relay },
  });
  const address = await relay.listen(options.port ?? 0, '127.0.0.1');
  await relay.start();
  return { relay, url: `http://127.0.0.1:${address.port}`, port: address.port, close: () => relay.close() };
}

/** A token for `customerId` signed with the suite's secret. */
export function tokenFor(config: Config, customerId: string, role: 'customer' | 'admin' = 'customer'): string {
  return signToken(customerId, config.jwtSecret, { role });
}

/** A Socket.IO client that records every `order.status` it receives, duplicates included. */
export interface TestClient {
  socket: Socket;
  received: ClientOrderEvent[];
  /** Received events of one order, in arrival order, duplicates included. */
  of(orderId: string): ClientOrderEvent[];
  /** Statuses of one order after dropping duplicate seqs, as a client should. */
  statuses(orderId: string): OrderStatus[];
  subscribe(orderId: string, lastSeq?: number): Promise<SubscribeAck>;
  /** Sends a raw `subscribe` payload and waits for the ack. */
  subscribeRaw(payload: unknown): Promise<SubscribeAck>;
  close(): void;
}

/** Options of `connectClient`. */
export interface ClientOptions {
  /** Reconnect after a lost connection, as a browser would. @default false */
  reconnection?: boolean;
  /** Orders to subscribe to again, from the last seq received, on every (re)connection. @default [] */
  resubscribe?: string[];
}

/** Connects a client and waits until the handshake is accepted. */
export async function connectClient(url: string, token: string, options: ClientOptions = {}): Promise<TestClient> {
  const socket = connect(url, {
    auth: { token },
    transports: ['websocket'],
    reconnection: options.reconnection ?? false,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    forceNew: true,
  });
  const received: ClientOrderEvent[] = [];
  socket.on(ORDER_STATUS_EVENT, (event: ClientOrderEvent) => received.push(event));
  const of = (orderId: string): ClientOrderEvent[] => received.filter((event) => event.orderId === orderId);
  const highest = (orderId: string): number => Math.max(0, ...of(orderId).map((event) => event.seq));
  const subscribeRaw = (payload: unknown): Promise<SubscribeAck> =>
    socket.timeout(10_000).emitWithAck(SUBSCRIBE_EVENT, payload) as Promise<SubscribeAck>;
  // What a real client does on every (re)connection: follow its orders again from the last seq it has. A subscribe
  // whose ack is lost to a disconnect (the relay killed meanwhile) is sent again on the next connection, so its
  // rejection is dropped rather than left unhandled.
  socket.on('connect', () => {
    for (const orderId of options.resubscribe ?? []) {
      subscribeRaw({ orderId, lastSeq: highest(orderId) }).catch(() => undefined);
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return {
    socket,
    received,
    of,
    statuses(orderId) {
      const seen = new Set<number>();
      const out: OrderStatus[] = [];
      for (const event of of(orderId)) {
        if (seen.has(event.seq)) continue;
        seen.add(event.seq);
        out.push(event.status);
      }
      return out;
    },
    subscribe: (orderId, lastSeq) => subscribeRaw(lastSeq === undefined ? { orderId } : { orderId, lastSeq }),
    subscribeRaw,
    close: () => socket.close(),
  };
}

/** A suite's services, its relays and its clients, as `useRelays` sets them up. */
export interface RelayHarness {
  readonly config: Config;
  readonly db: Knex;
  readonly redis: Redis;
  /** The relay started `index`-th (from 0) before the suite. */
  relay(index?: number): TestRelay;
  /** Connects a client to `relay` with a token for `customerId`; it is closed after the test. */
  client(
    relay: Pick<TestRelay, 'url'>,
    customerId: string,
    role?: 'customer' | 'admin',
    options?: ClientOptions,
  ): Promise<TestClient>;
}

/** Registers the jest hooks that give a suite a config, db, redis and `count` started relays, and clean up after. */
export function useRelays(count: number): RelayHarness {
  let services: { config: Config; db: Knex; redis: Redis } | undefined;
  const relays: TestRelay[] = [];
  const clients: TestClient[] = [];
  const started = (): NonNullable<typeof services> => {
    if (services === undefined) throw new Error('useRelays: the suite has not started (use it inside a test)');
    return services;
  };

  beforeAll(async () => {
    const config = testConfig();
    const db = testDb(config);
    services = { config, db, redis: testRedis(config) };
    for (let i = 0; i < count; i += 1) relays.push(await startRelay(config, db));
  });

  afterEach(() => {
    for (const created of clients.splice(0)) created.close();
  });

  afterAll(async () => {
    for (const relay of relays.splice(0)) await relay.close();
    await services?.redis.quit();
    await services?.db.destroy();
  });

  return {
    get config() {
      return started().config;
    },
    get db() {
      return started().db;
    },
    get redis() {
      return started().redis;
    },
    relay(index = 0) {
      const relay = relays[index];
      if (relay === undefined) throw new Error(`useRelays: no relay ${index} (${relays.length} started)`);
      return relay;
    },
    async client(relay, customerId, role = 'customer', options = {}) {
      const created = await connectClient(relay.url, tokenFor(started().config, customerId, role), options);
      clients.push(created);
      return created;
    },
  };
}

/** Inserts an order row for `customerId` and returns its id. */
export async function createOrder(db: Knex, customerId: string): Promise<string> {
  const id = randomUUID();
  await db(TABLES.orders).insert({
    id,
    customer_id: customerId,
    status: 'PENDING',
    total_cents: 1000,
    request_hash: 'realtime-test',
    workflow_id: `realtime-test-${id}`,
  });
  return id;
}

/** Commits the next status of an order (orders + order_events in one transaction), like the status activity. */
export async function commitStatus(
  db: Knex,
  orderId: string,
  status: OrderStatus,
  detail: Record<string, unknown> = {},
): Promise<OrderEvent> {
  return db.transaction(async (trx) => {
    const order = await trx(TABLES.orders)
      .where('id', orderId)
      .forUpdate()
      .first<{ customer_id: string }>('customer_id');
    if (order === undefined) throw new Error(`no order ${orderId}`);
    const last = await trx(TABLES.orderEvents)
      .where('order_id', orderId)
      .max<{ max: number | null }>('seq as max')
      .first();
    const seq = (last?.max ?? 0) + 1;
    const [row] = await trx(TABLES.orderEvents)
      .insert({ order_id: orderId, seq, status, detail })
      .returning<{ created_at: Date }[]>('created_at');
    await trx(TABLES.orders).where('id', orderId).update({ status, updated_at: trx.fn.now() });
    return {
      orderId,
      customerId: order.customer_id,
      seq,
      status,
      at: (row?.created_at ?? new Date()).toISOString(),
      detail,
    };
  });
}

/** Commits the next status and publishes it, as `recordStatus` does. */
export async function recordStatus(
  db: Knex,
  redis: Redis,
  config: Config,
  orderId: string,
  status: OrderStatus,
  detail: Record<string, unknown> = {},
): Promise<OrderEvent> {
  const event = await commitStatus(db, orderId, status, detail);
  await publishOrderEvent(redis, config.redisKeyPrefix, event);
  return event;
}
