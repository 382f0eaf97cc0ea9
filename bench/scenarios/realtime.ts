/**
 * Realtime latency with 1,000 connected Socket.IO clients (`--clients`) at a steady event rate (`--rate`): each event
 * is a status commit (`order_events` insert + `orders` update in one transaction), then the XADD of
 * `publishOrderEvent`, as the status activity does; the relay emits it to the order's rooms. Timed commit -> client,
 * against a raw `io.local.to(room).emit()` on the same server and clients (a single Socket.IO server's cost, no Redis,
 * no PostgreSQL), in alternating phases. Goal: relay p99 (commit -> client) < 50 ms, nothing lost.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { Socket } from 'socket.io-client';
import { loadConfigOrExit } from '../../lib/config';
import { createDb, TABLES } from '../../lib/db';
import { ORDER_STATUS_EVENT, publishOrderEvent, redisKeys, ROOMS, SUBSCRIBE_EVENT } from '../../lib/events';
import { createLogger } from '../../lib/logger';
import { createRedis } from '../../lib/redis';
import { signToken } from '../../lib/auth';
import type { ClientOrderEvent, SubscribeAck } from '../../lib/realtime-protocol';
import { createRelay } from '../../realtime/relay';
import type { BenchOptions, ScenarioResult } from '../contract';
import { insertBenchOrders, removeBenchRows } from '../support/catalog';
import { connected, relayClient } from '../support/orders';
import { sleep } from '../../lib/sleep';
import { paced } from '../support/load';
import { summarize } from '../support/stats';

const GOAL_P99_MS = 50;

/** How a phase's events are told apart at the client (`detail.via`); each has its own seq space per order. */
type Via = 'relay' | 'raw';

/** One kind of phase: `send` sends one event and resolves with the time the latency clock starts. */
interface Phase {
  via: Via;
  send(orderId: string, customerId: string, seq: number): Promise<number>;
}

/** Last seq sent per phase kind: raw emits must not leave gaps in the relayed seqs (the relay would fill them). */
interface BenchOrder {
  orderId: string;
  customerId: string;
  seq: Record<Via, number>;
}

/** Sends `rate` events per second for `durationMs`, round-robin over the orders; returns the latencies. */
async function runPhase(
  phase: Phase,
  orders: BenchOrder[],
  received: Map<string, number>,
  rate: number,
  durationMs: number,
  signal: AbortSignal,
): Promise<{ latencies: number[]; lost: number }> {
  const sent = new Map<string, number>();
  const count = Math.round((rate * durationMs) / 1000);
  await paced({ count, rate, maxInFlight: Infinity, whenFull: 'drop', signal }, async (i) => {
    const order = orders[i % orders.length];
    if (order === undefined) return;
    const seq = (order.seq[phase.via] += 1);
    sent.set(`${phase.via}:${order.orderId}:${seq}`, await phase.send(order.orderId, order.customerId, seq));
  });
  const deadline = performance.now() + 5000;
  while ([...sent.keys()].some((key) => !received.has(key)) && performance.now() < deadline) await sleep(20);
  const latencies: number[] = [];
  let lost = 0;
  for (const [key, t0] of sent) {
    const t1 = received.get(key);
    if (t1 === undefined) lost += 1;
    else latencies.push(t1 - t0);
  }
  return { latencies, lost };
}

async function commitStatus(db: Knex, orderId: string, seq: number): Promise<string> {
  return db.transaction(async (trx) => {
    const [row] = await trx(TABLES.orderEvents)
      .insert({ order_id: orderId, seq, status: 'CHARGING', detail: { via: 'relay' } })
      .returning<{ created_at: Date }[]>('created_at');
    await trx(TABLES.orders).where('id', orderId).update({ status: 'CHARGING', updated_at: trx.fn.now() });
    return (row?.created_at ?? new Date()).toISOString();
  });
}

/** Runs the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const base = loadConfigOrExit();
  const { signal } = options.stack;
  const { clients, rate } = options.settings;
  const phaseMs = options.quick ? 2000 : 10_000;
  const rounds = options.quick ? 1 : 2;
  const config = {
    ...base,
    redisKeyPrefix: `${base.redisKeyPrefix}bench-${randomUUID().slice(0, 8)}:`,
    logLevel: 'warn' as const,
  };
  const db = createDb({ url: config.databaseUrl, poolMax: 20 });
  const redis: Redis = createRedis(config.redisUrl);
  const relay = createRelay({ config, db, logger: createLogger('bench-realtime', 'warn') });
  const sockets: Socket[] = [];
  const customerPrefix = `bench-rt-${randomUUID().slice(0, 8)}-`;
  try {
    const address = await relay.listen(0, '127.0.0.1');
    await relay.start();
    const url = `http://127.0.0.1:${address.port}`;

    const orders: BenchOrder[] = Array.from({ length: clients }, (_, i) => ({
      orderId: randomUUID(),
      customerId: `${customerPrefix}${i}`,
      seq: { relay: 0, raw: 0 },
    }));
    await insertBenchOrders(
      db,
      orders.map(({ orderId: id, customerId }) => ({ id, customerId })),
    );

    // One socket per customer, each following its order; receipts keyed by order and seq.
    const received = new Map<string, number>();
    options.log(`   connecting ${clients} clients to ${url}`);
    for (let i = 0; i < orders.length; i += 100) {
      await Promise.all(
        orders.slice(i, i + 100).map(async (order) => {
          const socket = relayClient(url, signToken(order.customerId, config.jwtSecret));
          sockets.push(socket);
          socket.on(ORDER_STATUS_EVENT, (event: ClientOrderEvent) => {
            const key = `${String(event.detail.via)}:${event.orderId}:${event.seq}`;
            if (!received.has(key)) received.set(key, performance.now());
          });
          await connected(socket);
          const subscribe = { orderId: order.orderId };
          const ack = (await socket.timeout(10_000).emitWithAck(SUBSCRIBE_EVENT, subscribe)) as SubscribeAck;
          if (!ack.ok) throw new Error(`subscribe refused: ${ack.error}`);
        }),
      );
    }

    const viaRelay: Phase = {
      via: 'relay',
      async send(orderId, customerId, seq) {
        const at = await commitStatus(db, orderId, seq);
        const t0 = performance.now(); // committed: the latency clock starts
        await publishOrderEvent(redis, config.redisKeyPrefix, {
          orderId,
          customerId,
          seq,
          status: 'CHARGING',
          at,
          detail: { via: 'relay' },
        });
        return t0;
      },
    };
    const rawEmit: Phase = {
      via: 'raw',
      send(orderId, customerId, seq) {
        const t0 = performance.now();
        relay.io.local.to(ROOMS.customer(customerId)).emit(ORDER_STATUS_EVENT, {
          orderId,
          seq,
          status: 'CHARGING',
          at: new Date().toISOString(),
          detail: { via: 'raw' },
        });
        return Promise.resolve(t0);
      },
    };

    const latencies = { relay: [] as number[], raw: [] as number[] };
    const lost = { relay: 0, raw: 0 };
    // A short warm-up so JIT and connection pools are hot before anything is measured.
    await runPhase(viaRelay, orders, received, rate, 1000, signal);
    for (let r = 0; r < rounds; r += 1) {
      for (const phase of [viaRelay, rawEmit]) {
        const measured = await runPhase(phase, orders, received, rate, phaseMs, signal);
        latencies[phase.via].push(...measured.latencies);
        lost[phase.via] += measured.lost;
      }
      options.log(`   round ${r + 1}/${rounds} done`);
    }
    const [relayed, raw] = [summarize(latencies.relay), summarize(latencies.raw)];
    return {
      scenario: 'realtime',
      figures: {
        clients,
        events_per_second: rate,
        events_relay: relayed.count,
        events_raw: raw.count,
        lost_relay: lost.relay,
        lost_raw: lost.raw,
        relay_commit_to_client_p50_ms: relayed.p50,
        relay_commit_to_client_p99_ms: relayed.p99,
        relay_commit_to_client_max_ms: relayed.max,
        raw_emit_to_client_p50_ms: raw.p50,
        raw_emit_to_client_p99_ms: raw.p99,
        raw_emit_to_client_max_ms: raw.max,
      },
      goal: `relay p99 commit -> client < ${GOAL_P99_MS} ms, nothing lost`,
      goalMet: relayed.p99 < GOAL_P99_MS && lost.relay === 0,
    };
  } finally {
    for (const socket of sockets) socket.close();
    await relay.close();
    const keys = redisKeys(config.redisKeyPrefix);
    await redis.del(keys.eventsStream, keys.socketIo).catch(() => undefined);
    await removeBenchRows(db, { customerPrefix, skus: [] });
    redis.disconnect();
    await db.destroy();
  }
}
