/**
 * Two relays side by side on one Redis, joined by the Redis Streams adapter. Each relay reads the whole events
 * stream and emits to its own sockets only, so a socket gets every event once whichever relay it is on, and a
 * subscription made through one relay is visible to the other through the adapter.
 */
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import type { Config } from '../../lib/config';
import { ROOMS } from '../../lib/events';
import { testConfig, testDb, testRedis } from '../support/services';
import {
  connectClient,
  createOrder,
  HAPPY_PATH,
  recordStatus,
  startRelay,
  tokenFor,
  until,
  type TestClient,
  type TestRelay,
} from './realtime.support';

describe('realtime relays behind the Redis Streams adapter', () => {
  let config: Config;
  let db: Knex;
  let redis: Redis;
  let relay1: TestRelay;
  let relay2: TestRelay;
  const clients: TestClient[] = [];

  const client = async (relay: TestRelay, customerId: string, role: 'customer' | 'admin' = 'customer') => {
    const created = await connectClient(relay.url, tokenFor(config, customerId, role));
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    config = testConfig();
    db = testDb(config);
    redis = testRedis(config);
    relay1 = await startRelay(config, db);
    relay2 = await startRelay(config, db);
  });

  afterEach(() => {
    for (const created of clients.splice(0)) created.close();
  });

  afterAll(async () => {
    await relay1.close();
    await relay2.close();
    await redis.quit();
    await db.destroy();
  });

  test('when an order is subscribed through relay 2, then sockets on relay 1 receive its events once each, in order', async () => {
    const customer = `nia-${randomUUID()}`;
    const orderId = await createOrder(db, customer);
    const subscriber = await client(relay2, customer);
    const sameCustomerOnRelay1 = await client(relay1, customer);
    const adminOnRelay1 = await client(relay1, `ops-${randomUUID()}`, 'admin');
    const adminOnRelay2 = await client(relay2, `ops-${randomUUID()}`, 'admin');
    const strangerOnRelay1 = await client(relay1, `oscar-${randomUUID()}`);
    expect(await subscriber.subscribe(orderId)).toEqual({ ok: true });

    // The adapter makes the subscription made on relay 2 visible from relay 1.
    const inOrderRoom = await relay1.relay.io.in(ROOMS.order(orderId)).fetchSockets();
    expect(inOrderRoom.map((socket) => socket.id)).toEqual([subscriber.socket.id]);

    for (const status of HAPPY_PATH) await recordStatus(db, redis, config, orderId, status);

    const everyone = [subscriber, sameCustomerOnRelay1, adminOnRelay1, adminOnRelay2];
    await until('every socket has COMPLETED', () => everyone.every((c) => c.of(orderId).length >= 5));
    // Let any duplicate that a second relay might emit arrive before asserting there is none.
    const marker = await createOrder(db, customer);
    await recordStatus(db, redis, config, marker, 'PENDING');
    await until('the marker event arrives everywhere', () => everyone.every((c) => c.of(marker).length === 1));
    for (const c of everyone) expect(c.of(orderId).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(strangerOnRelay1.received).toEqual([]);
  });

  test('when relay 2 stops mid-order, then its client reconnects to relay 1 with lastSeq and ends with every status once', async () => {
    const spare = await startRelay(config, db);
    const customer = `pia-${randomUUID()}`;
    const orderId = await createOrder(db, customer);
    const onSpare = await client(spare, customer);
    expect(await onSpare.subscribe(orderId)).toEqual({ ok: true });
    await recordStatus(db, redis, config, orderId, 'PENDING');
    await recordStatus(db, redis, config, orderId, 'RESERVED');
    await until('RESERVED arrives', () => onSpare.of(orderId).length === 2);

    await spare.close();
    await until('the client notices', () => !onSpare.socket.connected);
    await recordStatus(db, redis, config, orderId, 'CHARGING');

    const moved = await client(relay1, customer);
    // The same app instance, now on relay 1: it keeps what it had received and asks only for what it missed.
    moved.received.push(...onSpare.received);
    expect(await moved.subscribe(orderId, 2)).toEqual({ ok: true });
    await recordStatus(db, redis, config, orderId, 'PAID');
    await recordStatus(db, redis, config, orderId, 'COMPLETED');
    await until('COMPLETED arrives', () => moved.statuses(orderId).includes('COMPLETED'));
    expect(moved.of(orderId).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
  });
});
