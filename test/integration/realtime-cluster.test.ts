/**
 * Two relays side by side on one Redis, joined by the Redis Streams adapter. Each relay reads the whole events
 * stream and emits to its own sockets only, so a socket gets every event once whichever relay it is on, and a
 * subscription made through one relay is visible to the other through the adapter.
 */
import { randomUUID } from 'node:crypto';
import { ROOMS } from '../../lib/events';
import { createOrder, HAPPY_PATH, recordStatus, startRelay, useRelays } from './realtime.support';
import { until } from '../support/wait';

describe('realtime relays behind the Redis Streams adapter', () => {
  const h = useRelays(2);

  test('when an order is subscribed through relay 2, then sockets on relay 1 receive its events once each, in order', async () => {
    const [relay1, relay2] = [h.relay(0), h.relay(1)];
    const customer = `nia-${randomUUID()}`;
    const orderId = await createOrder(h.db, customer);
    const subscriber = await h.client(relay2, customer);
    const sameCustomerOnRelay1 = await h.client(relay1, customer);
    const adminOnRelay1 = await h.client(relay1, `ops-${randomUUID()}`, 'admin');
    const adminOnRelay2 = await h.client(relay2, `ops-${randomUUID()}`, 'admin');
    const strangerOnRelay1 = await h.client(relay1, `oscar-${randomUUID()}`);
    expect(await subscriber.subscribe(orderId)).toEqual({ ok: true });

    // The adapter makes the subscription made on relay 2 visible from relay 1.
    const inOrderRoom = await relay1.relay.io.in(ROOMS.order(orderId)).fetchSockets();
    expect(inOrderRoom.map((socket) => socket.id)).toEqual([subscriber.socket.id]);

    for (const status of HAPPY_PATH) await recordStatus(h.db, h.redis, h.config, orderId, status);

    const everyone = [subscriber, sameCustomerOnRelay1, adminOnRelay1, adminOnRelay2];
    await until('every socket has COMPLETED', () => everyone.every((c) => c.of(orderId).length >= 5));
    // Let any duplicate that a second relay might emit arrive before asserting there is none.
    const marker = await createOrder(h.db, customer);
    await recordStatus(h.db, h.redis, h.config, marker, 'PENDING');
    await until('the marker event arrives everywhere', () => everyone.every((c) => c.of(marker).length === 1));
    for (const c of everyone) expect(c.of(orderId).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(strangerOnRelay1.received).toEqual([]);
  });

  test('when relay 2 stops mid-order, then its client reconnects to relay 1 with lastSeq and ends with every status once', async () => {
    const spare = await startRelay(h.config, h.db);
    const customer = `pia-${randomUUID()}`;
    const orderId = await createOrder(h.db, customer);
    const onSpare = await h.client(spare, customer);
    expect(await onSpare.subscribe(orderId)).toEqual({ ok: true });
    await recordStatus(h.db, h.redis, h.config, orderId, 'PENDING');
    await recordStatus(h.db, h.redis, h.config, orderId, 'RESERVED');
    await until('RESERVED arrives', () => onSpare.of(orderId).length === 2);

    await spare.close();
    await until('the client notices', () => !onSpare.socket.connected);
    await recordStatus(h.db, h.redis, h.config, orderId, 'CHARGING');

    const moved = await h.client(h.relay(0), customer);
    // The same app instance, now on relay 1: it keeps what it had received and asks only for what it missed.
    moved.received.push(...onSpare.received);
    expect(await moved.subscribe(orderId, 2)).toEqual({ ok: true });
    await recordStatus(h.db, h.redis, h.config, orderId, 'PAID');
    await recordStatus(h.db, h.redis, h.config, orderId, 'COMPLETED');
    await until('COMPLETED arrives', () => moved.statuses(orderId).includes('COMPLETED'));
    expect(moved.of(orderId).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
  });
});
