/**
 * The whole path on real services: orders placed through the API run as sagas on a real worker, whose status
 * activity commits and publishes each transition; the relay delivers them to the order's subscriber.
 */
import { randomUUID } from 'node:crypto';
import { createApiHarness, type ApiHarness } from '../support/api-helpers';
import { insertProducts, uniqueSku } from '../support/services';
import { connectClient, startRelay, tokenFor, type TestClient, type TestRelay } from './realtime.support';
import { until } from '../support/wait';

describe('realtime relay with the API and the worker', () => {
  let h: ApiHarness;
  let relay: TestRelay;
  const clients: TestClient[] = [];
  let sku: string;

  beforeAll(async () => {
    h = await createApiHarness();
    relay = await startRelay(h.config, h.db);
    sku = uniqueSku('realtime-e2e');
    await insertProducts(h.db, [{ sku, stock: 100, priceCents: 1250 }]);
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  afterAll(async () => {
    await relay.close();
    await h.close();
  });

  const placeOrder = async (customer: string, paymentToken: string): Promise<string> => {
    const response = await h.request('POST', '/orders', {
      token: h.token(customer),
      body: { items: [{ sku, quantity: 1 }], payment: { token: paymentToken } },
    });
    expect(response.status).toBe(201);
    return (response.body as { orderId: string }).orderId;
  };

  test('when an order with tok_ok is placed, then its subscriber sees PENDING to COMPLETED in seq order and an admin sees the same', async () => {
    const customer = `e2e-${randomUUID()}`;
    const watcher = await connectClient(relay.url, tokenFor(h.config, customer));
    const admin = await connectClient(relay.url, tokenFor(h.config, `ops-${randomUUID()}`, 'admin'));
    clients.push(watcher, admin);
    const orderId = await placeOrder(customer, 'tok_ok');
    expect(await watcher.subscribe(orderId)).toEqual({ ok: true });

    await until('COMPLETED arrives', () => watcher.statuses(orderId).includes('COMPLETED'), 30_000);
    expect(watcher.statuses(orderId)).toEqual(['PENDING', 'RESERVED', 'CHARGING', 'PAID', 'COMPLETED']);
    const seqs = [...new Set(watcher.of(orderId).map((event) => event.seq))];
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    await until('the admin has COMPLETED', () => admin.statuses(orderId).includes('COMPLETED'));
    expect(admin.statuses(orderId)).toEqual(watcher.statuses(orderId));
  });

  test('when a tok_slow order is cancelled while charging, then its subscriber sees it end CANCELLED', async () => {
    const customer = `e2e-${randomUUID()}`;
    const watcher = await connectClient(relay.url, tokenFor(h.config, customer));
    clients.push(watcher);
    const orderId = await placeOrder(customer, 'tok_slow');
    expect(await watcher.subscribe(orderId)).toEqual({ ok: true });
    await until('CHARGING arrives', () => watcher.statuses(orderId).includes('CHARGING'), 30_000);
    const cancel = await h.request('POST', `/orders/${orderId}/cancel`, { token: h.token(customer) });
    expect(cancel.status).toBe(202);

    await until('CANCELLED arrives', () => watcher.statuses(orderId).includes('CANCELLED'), 30_000);
    const statuses = watcher.statuses(orderId);
    expect(statuses[0]).toBe('PENDING');
    expect(statuses.at(-1)).toBe('CANCELLED');
    expect(statuses).not.toContain('COMPLETED');
  });
});
