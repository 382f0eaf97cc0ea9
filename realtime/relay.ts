/**
 * The realtime relay: a Socket.IO server that authenticates each handshake, puts sockets in their rooms, and
 * delivers every order event from the deployment's Redis Stream to `customer:<id>`, `order:<id>` and `admin`.
 *
 * Every relay reads the whole stream and emits to its own sockets only (`io.local`), so N relays side by side
 * deliver each event once per socket and in stream order; the Redis Streams adapter joins them for everything
 * else (cross-relay `fetchSockets`, `serverSideEmit`, `socketsJoin`, `disconnectSockets`). PostgreSQL
 * (`order_events`) is the durable source: `subscribe` replays from it, the relay fills a gap in an order's seqs
 * from it, and after losing Redis it catches up from it.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
import { Server, type Socket } from 'socket.io';
import type { Config } from '../lib/config';
import { TABLES } from '../lib/db';
import {
  EXPORT_PROGRESS_EVENT,
  ORDER_STATUS_EVENT,
  PRODUCT_LOW_STOCK_EVENT,
  PRODUCT_STOCK_EVENT,
  redisKeys,
  ROOMS,
  SUBSCRIBE_EVENT,
  type AdminEvents,
  type AdminMessage,
  type OrderEvent,
} from '../lib/events';
import type { Logger } from '../lib/logger';
import { createRedis, reportOutages } from '../lib/redis';
import type * as rows from '../lib/rows';
import { fieldIssues } from '../lib/field-issues';
import { listen } from '../lib/http/listen';
import { normaliseStorableText } from '../lib/storable-text';
import { authenticate, type SocketIdentity } from './auth';
import { createHttpRoutes } from './http';
import {
  REALTIME_ERRORS,
  subscribeRequestSchema,
  toClientEvent,
  type ClientOrderEvent,
  type SubscribeAck,
} from '../lib/realtime-protocol';
import { createStreamReader } from './stream-reader';

/** Tuning of a relay; the defaults suit production. */
export interface RelayOptions {
  /**
   * How long a subscription whose replay ran ahead of the stream waits for the stream to catch up before it joins
   * the live room (meanwhile live events are buffered, so waiting only avoids a duplicate at the seam).
   * @default 300
   */
  seamWaitMs: number;
  /** How far before the start of a Redis outage the catch-up from PostgreSQL reaches back. @default 5000 */
  catchUpMarginMs: number;
  /** Most events one catch-up relays. @default 10000 */
  catchUpMaxEvents: number;
  /** Orders whose last relayed seq is remembered, to drop duplicates and fill gaps. @default 100000 */
  trackedOrders: number;
  /** How long one XREAD blocks. @default 5000 */
  blockMs: number;
  /** Longest pause between attempts to reach Redis again. @default 5000 */
  maxBackoffMs: number;
}

/** What `createRelay` needs. */
export interface RelayDeps {
  config: Config;
  db: Knex;
  logger: Logger;
  /**
   * Opens one Redis connection with the given options; the relay owns and closes every connection it opens.
   * @default (options) => createRedis(config.redisUrl, options)
   */
  createRedisClient?: (options: RedisOptions) => Redis;
  /** Base URL of the HTTP API for the demo page. @default the page's host on `config.apiPort` */
  apiUrl?: string;
  options?: Partial<RelayOptions>;
}

/** A relay: the HTTP server (not listening until told), its Socket.IO server, and its lifecycle. */
export interface Relay {
  httpServer: HttpServer;
  io: RelayServer;
  /** Starts reading the events stream; resolves once the read position is fixed. Handshakes wait for it. */
  start(): Promise<void>;
  /** Listens on `port` (0 picks a free one) and resolves with the bound address. */
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Disconnects every client, stops reading, closes the HTTP server and every Redis connection of the relay. */
  close(): Promise<void>;
}

/** Events the relay sends. */
export interface ServerToClientEvents {
  [ORDER_STATUS_EVENT]: (event: ClientOrderEvent) => void;
  [PRODUCT_STOCK_EVENT]: (event: AdminEvents[typeof PRODUCT_STOCK_EVENT]) => void;
  [PRODUCT_LOW_STOCK_EVENT]: (event: AdminEvents[typeof PRODUCT_LOW_STOCK_EVENT]) => void;
  [EXPORT_PROGRESS_EVENT]: (event: AdminEvents[typeof EXPORT_PROGRESS_EVENT]) => void;
}

/** Admin-channel event names a relay forwards from Redis to the `admin` room. */
const ADMIN_EVENTS: ReadonlySet<string> = new Set([
  PRODUCT_STOCK_EVENT,
  PRODUCT_LOW_STOCK_EVENT,
  EXPORT_PROGRESS_EVENT,
]);

/** Parses one admin-channel message; undefined for anything that is not one. */
function parseAdminMessage(raw: string): AdminMessage | undefined {
  try {
    const value = JSON.parse(raw) as Partial<AdminMessage>;
    if (typeof value.event !== 'string' || !ADMIN_EVENTS.has(value.event)) return undefined;
    if (typeof value.payload !== 'object' || value.payload === null) return undefined;
    return value as AdminMessage;
  } catch {
    return undefined;
  }
}

/** Events the relay accepts; payloads are validated, so they are typed as unknown here. */
export interface ClientToServerEvents {
  [SUBSCRIBE_EVENT]: (...args: unknown[]) => void;
}

/** Per-socket data. */
export interface RelaySocketData {
  identity: SocketIdentity;
}

/** The relay's typed Socket.IO server. */
export type RelayServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, RelaySocketData>;
type RelaySocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, RelaySocketData>;

const DEFAULT_OPTIONS: RelayOptions = {
  seamWaitMs: 300,
  catchUpMarginMs: 5000,
  catchUpMaxEvents: 10_000,
  trackedOrders: 100_000,
  blockMs: 5000,
  maxBackoffMs: 5000,
};

/** A subscription between its replay from PostgreSQL and its joining the live room. */
interface PendingReplay {
  socket: RelaySocket;
  /** Live events of the order held back from this socket meanwhile. */
  buffer: ClientOrderEvent[];
  /** The highest seq replayed; the stream has caught up once it relays this seq. */
  high: number;
  caughtUp: () => void;
}

/** The `order_events` columns the relay replays, with the owner when joined with `orders`. */
type EventRow = Pick<rows.EventRow, 'order_id' | 'seq' | 'status' | 'detail' | 'created_at'> &
  Partial<Pick<rows.OrderRow, 'customer_id'>>;

function toEvent(row: EventRow, customerId: string): OrderEvent {
  return {
    orderId: row.order_id,
    customerId,
    seq: row.seq,
    status: row.status,
    at: new Date(row.created_at).toISOString(),
    detail: row.detail ?? {},
  };
}

/** Builds a relay on the given services; call `start()` and `listen()` (or attach `httpServer` yourself). */
export function createRelay(deps: RelayDeps): Relay {
  const { config, db } = deps;
  const logger = deps.logger.child({ component: 'relay' });
  const options: RelayOptions = { ...DEFAULT_OPTIONS, ...deps.options };
  const openRedis =
    deps.createRedisClient ?? ((redisOptions: RedisOptions) => createRedis(config.redisUrl, redisOptions));
  const streamKey = redisKeys(config.redisKeyPrefix).eventsStream;

  // The relay owns every Redis connection, including the ones the adapter duplicates, so close() leaves none open.
  const connections: Redis[] = [];
  const own = (client: Redis, role: string): Redis => {
    connections.push(client);
    client.on('error', (error: Error) => logger.debug('redis connection error', { role, error: error.message }));
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override?: Partial<RedisOptions>) => own(duplicate(override), `${role}-duplicate`);
    return client;
  };
  // The adapter's commands wait for Redis instead of failing (some of its promises have no rejection handler).
  // A blocked XREAD keeps its connection open until the block ends; close() should not wait that long.
  const disconnectTimeout = 200;
  const adapterRedis = own(openRedis({ maxRetriesPerRequest: null, disconnectTimeout }), 'adapter');
  // One warning per outage for the relay (on the connection that is always open), not one per connection and attempt.
  reportOutages(adapterRedis, logger);
  // The reader fails fast when Redis goes away (no resend, no retries) and handles the outage itself.
  const readerRedis = own(
    openRedis({
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: false,
      disconnectTimeout,
    }),
    'reader',
  );

  // Admin-channel events (stock, low stock, export progress) arrive on a pub/sub channel; every relay forwards them
  // to its own admin sockets. They are live indicators: PostgreSQL (ledger, exports) is their durable source.
  // Its SUBSCRIBE waits for Redis (no retry limit): a relay started while Redis is down serves /health and starts
  // reading once Redis is up, instead of failing its start.
  const adminSubscriber = own(openRedis({ maxRetriesPerRequest: null, disconnectTimeout }), 'admin-subscriber');
  adminSubscriber.on('message', (_channel: string, raw: string) => {
    const message = parseAdminMessage(raw);
    const admins = io.local.to(ROOMS.admin);
    switch (message?.event) {
      case PRODUCT_STOCK_EVENT:
        admins.emit(PRODUCT_STOCK_EVENT, message.payload);
        break;
      case PRODUCT_LOW_STOCK_EVENT:
        admins.emit(PRODUCT_LOW_STOCK_EVENT, message.payload);
        break;
      case EXPORT_PROGRESS_EVENT:
        admins.emit(EXPORT_PROGRESS_EVENT, message.payload);
        break;
      default:
        break; // not an admin event: ignored
    }
  });

  // The routes are the server's own listener, so Socket.IO (attached next) hands them every non-/socket.io/ request.
  const httpServer = createServer((req, res) => routes(req, res));
  const io: RelayServer = new Server(httpServer, {
    cors: { origin: config.corsOrigins },
    serveClient: true,
    // Clients only ever send `subscribe`; nothing legitimate comes near this.
    maxHttpBufferSize: 16 * 1024,
    adapter: createAdapter(adapterRedis, {
      streamName: redisKeys(config.redisKeyPrefix).socketIo,
      channelPrefix: redisKeys(config.redisKeyPrefix).socketIo,
      sessionKeyPrefix: `${redisKeys(config.redisKeyPrefix).socketIo}:session:`,
      blockTimeInMs: options.blockMs,
    }),
  });

  /** Last seq relayed per order, for the `trackedOrders` orders relayed most recently. */
  const relayedSeq = new LRUCache<string, number>({ max: options.trackedOrders });
  const pending = new Map<string, Set<PendingReplay>>();
  const subscribeQueues = new WeakMap<RelaySocket, Promise<void>>();

  /** Emits one event to the rooms of this relay's sockets, holding it back from sockets still replaying. */
  const emit = (event: OrderEvent): void => {
    relayedSeq.set(event.orderId, event.seq);
    const payload = toClientEvent(event);
    const replays = pending.get(event.orderId);
    let target = io.local.to([ROOMS.customer(event.customerId), ROOMS.order(event.orderId), ROOMS.admin]);
    if (replays !== undefined && replays.size > 0) {
      target = target.except([...replays].map((replay) => replay.socket.id));
      for (const replay of replays) {
        replay.buffer.push(payload);
        if (payload.seq >= replay.high) replay.caughtUp();
      }
    }
    target.emit(ORDER_STATUS_EVENT, payload);
  };

  const loadEvents = async (orderId: string, afterSeq: number, beforeSeq?: number): Promise<EventRow[]> => {
    const query = db(TABLES.orderEvents)
      .where('order_id', orderId)
      .andWhere('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .select<EventRow[]>('order_id', 'seq', 'status', 'detail', 'created_at');
    if (beforeSeq !== undefined) void query.andWhere('seq', '<', beforeSeq);
    return query;
  };

  /** Relays one event: drops what was already relayed, fills a gap from PostgreSQL first. */
  const relay = async (event: OrderEvent): Promise<void> => {
    const last = relayedSeq.get(event.orderId);
    if (last !== undefined && event.seq <= last) return;
    if (last !== undefined && event.seq > last + 1) {
      try {
        for (const row of await loadEvents(event.orderId, last, event.seq)) emit(toEvent(row, event.customerId));
      } catch (error) {
        logger.error('could not fill a gap in an order history', {
          orderId: event.orderId,
          last,
          seq: event.seq,
          error,
        });
      }
    }
    emit(event);
  };

  /** After a Redis outage: relay what PostgreSQL committed meanwhile (publishes may have failed). */
  const catchUp = async (since: Date): Promise<void> => {
    const rows = await db({ e: TABLES.orderEvents })
      .join({ o: TABLES.orders }, 'o.id', 'e.order_id')
      .where('e.created_at', '>=', new Date(since.getTime() - options.catchUpMarginMs))
      .orderBy([
        { column: 'e.order_id', order: 'asc' },
        { column: 'e.seq', order: 'asc' },
      ])
      .limit(options.catchUpMaxEvents)
      .select<EventRow[]>('e.order_id', 'e.seq', 'e.status', 'e.detail', 'e.created_at', 'o.customer_id');
    for (const row of rows) await relay(toEvent(row, row.customer_id ?? ''));
    logger.info('caught up from PostgreSQL after a Redis outage', { events: rows.length });
  };

  const reader = createStreamReader({
    redis: readerRedis,
    streamKey,
    logger,
    blockMs: options.blockMs,
    maxBackoffMs: options.maxBackoffMs,
    onEvent: async (event) => {
      try {
        await relay(event);
      } catch (error) {
        logger.error('could not relay an event', { orderId: event.orderId, seq: event.seq, error });
      }
    },
    onRecovered: catchUp,
  });

  const subscribe = async (
    socket: RelaySocket,
    payload: unknown,
    reply: (ack: SubscribeAck) => void,
  ): Promise<void> => {
    const request = subscribeRequestSchema.safeParse(payload, { reportInput: true });
    if (!request.success) {
      const issue = fieldIssues(request.error, { whole: 'payload' })[0];
      // The field is echoed back: a key the client made up is made storable text first, like any text we send.
      const field = normaliseStorableText(issue?.field, 64) ?? 'payload';
      reply({ ok: false, error: REALTIME_ERRORS.validationFailed, field, message: issue?.message ?? 'invalid' });
      return;
    }
    // Events, rooms and the seam hold-back are keyed by the lower-case id the database writes (a UUID is case-blind).
    const orderId = request.data.orderId.toLowerCase();
    const { lastSeq = 0 } = request.data;
    const { identity } = socket.data;
    let owner: { customer_id: string } | undefined;
    try {
      owner = await db(TABLES.orders).where('id', orderId).first<{ customer_id: string } | undefined>('customer_id');
    } catch (error) {
      logger.warn('subscribe could not read the order', { orderId, error });
      reply({ ok: false, error: REALTIME_ERRORS.serviceUnavailable });
      return;
    }
    if (owner === undefined || (identity.role !== 'admin' && owner.customer_id !== identity.customerId)) {
      reply({ ok: false, error: REALTIME_ERRORS.notFound });
      return;
    }

    // From here until the socket joins the live room, live events of this order are held back in `buffer`.
    const replay: PendingReplay = { socket, buffer: [], high: Number.POSITIVE_INFINITY, caughtUp: () => undefined };
    const reached = new Promise<void>((resolve) => {
      replay.caughtUp = resolve;
    });
    const replays = pending.get(orderId) ?? new Set<PendingReplay>();
    pending.set(orderId, replays.add(replay));
    let timer: NodeJS.Timeout | undefined;
    try {
      let history: EventRow[];
      try {
        history = await loadEvents(orderId, lastSeq);
      } catch (error) {
        logger.warn('subscribe could not read the order history', { orderId, error });
        reply({ ok: false, error: REALTIME_ERRORS.serviceUnavailable });
        return;
      }
      for (const row of history) socket.emit(ORDER_STATUS_EVENT, toClientEvent(toEvent(row, owner.customer_id)));
      replay.high = history.at(-1)?.seq ?? lastSeq;
      reply({ ok: true });
      // Join the room only once the stream has relayed what we replayed, so nothing arrives twice at the seam.
      const relayed = relayedSeq.get(orderId) ?? -1;
      const alreadyBuffered = replay.buffer.some((event) => event.seq >= replay.high);
      if (history.length > 0 && relayed < replay.high && !alreadyBuffered) {
        await Promise.race([reached, new Promise((resolve) => (timer = setTimeout(resolve, options.seamWaitMs)))]);
      }
      if (!socket.connected) return;
      let sent = replay.high;
      for (const event of replay.buffer) {
        if (event.seq <= sent) continue;
        socket.emit(ORDER_STATUS_EVENT, event);
        sent = event.seq;
      }
      void socket.join(ROOMS.order(orderId));
    } finally {
      clearTimeout(timer);
      replays.delete(replay);
      if (replays.size === 0 && pending.get(orderId) === replays) pending.delete(orderId);
    }
  };

  // A socket accepted before the reader has its position could subscribe, get its replay, and then miss an event
  // published before the reader's starting point: handshakes wait until `start()` has fixed the position.
  let markPositioned: () => void = () => undefined;
  const positioned = new Promise<void>((resolve) => {
    markPositioned = resolve;
  });
  io.use((_socket, next) => {
    void positioned.then(() => next());
  });

  io.use((socket, next) => {
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    const identity = authenticate(auth?.token, config.jwtSecret);
    if (identity === undefined) {
      const error = new Error(REALTIME_ERRORS.unauthorized) as Error & { data?: unknown };
      error.data = { error: REALTIME_ERRORS.unauthorized, message: 'a valid HS256 token is required in auth.token' };
      next(error);
      return;
    }
    socket.data.identity = identity;
    next();
  });

  io.on('connection', (socket: RelaySocket) => {
    const { identity } = socket.data;
    void socket.join(ROOMS.customer(identity.customerId));
    if (identity.role === 'admin') void socket.join(ROOMS.admin);
    socket.on(SUBSCRIBE_EVENT, (...args: unknown[]) => {
      const last = args.at(-1);
      const reply = typeof last === 'function' ? (last as (ack: SubscribeAck) => void) : () => undefined;
      // One subscribe at a time per socket, so two requests for one order never interleave their replays.
      const previous = subscribeQueues.get(socket) ?? Promise.resolve();
      const next = previous
        .then(() => subscribe(socket, args[0], reply))
        .catch((error: unknown) => logger.error('subscribe failed', { error }));
      subscribeQueues.set(socket, next);
    });
  });

  const routes = createHttpRoutes({
    config,
    logger,
    apiUrl: deps.apiUrl,
    health: () => ({ stream: reader.state(), clients: io.engine.clientsCount }),
  });

  let started = false;
  return {
    httpServer,
    io,
    async start() {
      started = true;
      await adminSubscriber.subscribe(redisKeys(config.redisKeyPrefix).adminChannel);
      await reader.start();
      markPositioned();
    },
    listen(port, host = config.host) {
      return listen(httpServer, port, host);
    },
    async close() {
      await new Promise<void>((resolve) => {
        void io.close(() => resolve());
      });
      if (started) await reader.close();
      for (const client of connections) client.disconnect();
    },
  };
}
