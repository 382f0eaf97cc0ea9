/**
 * The admin channel on the relay: stock, low-stock and export-progress events published after commit reach every
 * admin socket of every relay, and no customer socket; a malformed message on the channel is ignored.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { adjustStock } from '../../api/catalog-store';
import {
  EXPORT_PROGRESS_EVENT,
  PRODUCT_LOW_STOCK_EVENT,
  PRODUCT_STOCK_EVENT,
  publishAdminEvent,
  redisKeys,
} from '../../lib/events';
import { createLogger } from '../../lib/logger';
import { createStockPublisher } from '../../lib/stock-events';
import { insertProducts, uniqueSku } from '../support/services';
import { until } from '../support/wait';
import { useRelays } from './realtime.support';

const ADMIN_EVENTS = [PRODUCT_STOCK_EVENT, PRODUCT_LOW_STOCK_EVENT, EXPORT_PROGRESS_EVENT] as const;

/** Records every admin-channel event a socket receives, as [event, payload]. */
function record(socket: Socket): [string, Record<string, unknown>][] {
  const seen: [string, Record<string, unknown>][] = [];
  for (const event of ADMIN_EVENTS) socket.on(event, (payload: Record<string, unknown>) => seen.push([event, payload]));
  return seen;
}

describe('realtime admin channel', () => {
  const h = useRelays(2);

  test('when stock moves and an export progresses, then admins on every relay receive the events and customers none', async () => {
    const sku = uniqueSku('live');
    await insertProducts(h.db, [{ sku, stock: 6, lowStockThreshold: 5 }]);
    const admins = [
      await h.client(h.relay(0), `ops-${randomUUID()}`, 'admin'),
      await h.client(h.relay(1), `ops-${randomUUID()}`, 'admin'),
    ];
    const customer = await h.client(h.relay(0), `cust-${randomUUID()}`);
    const adminEvents = admins.map((admin) => record(admin.socket));
    const customerEvents = record(customer.socket);

    const publish = createStockPublisher({
      db: h.db,
      redis: h.redis,
      redisKeyPrefix: h.config.redisKeyPrefix,
      logger: createLogger('test', 'silent'),
    });
    const adjusted = await adjustStock(h.db, sku, -2, 'breakage');
    await publish([adjusted.movement]);
    const exportId = randomUUID();
    await publishAdminEvent(h.redis, h.config.redisKeyPrefix, {
      event: EXPORT_PROGRESS_EVENT,
      payload: { exportId, status: 'running', rows: 10, progress: 0.5, at: new Date().toISOString() },
    });
    // Not an admin event: dropped by the relay rather than forwarded.
    await h.redis.publish(redisKeys(h.config.redisKeyPrefix).adminChannel, '{"event":"order.status","payload":{}}');
    await h.redis.publish(redisKeys(h.config.redisKeyPrefix).adminChannel, 'not json');

    await until('both admins receive three events', () => adminEvents.every((events) => events.length >= 3));
    for (const events of adminEvents) {
      expect(events).toEqual([
        [PRODUCT_STOCK_EVENT, expect.objectContaining({ sku, stock: 4, kind: 'adjustment', quantity: -2 })],
        [PRODUCT_LOW_STOCK_EVENT, expect.objectContaining({ sku, stock: 4, threshold: 5 })],
        [EXPORT_PROGRESS_EVENT, expect.objectContaining({ exportId, status: 'running', rows: 10, progress: 0.5 })],
      ]);
    }
    // A later event to admins proves the customer's socket was live; it still got nothing.
    await publishAdminEvent(h.redis, h.config.redisKeyPrefix, {
      event: EXPORT_PROGRESS_EVENT,
      payload: { exportId, status: 'completed', rows: 20, progress: 1, at: new Date().toISOString() },
    });
    await until('the completed event', () => adminEvents.every((events) => events.length === 4));
    expect(customerEvents).toEqual([]);
  });
});
