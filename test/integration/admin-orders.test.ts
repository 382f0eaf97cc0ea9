/**
 * Admin order actions over HTTP: retry the payment of a NEEDS_ATTENTION order (the `retryPayment` signal the
 * Temporal UI sends), cancel any customer's order, and list NEEDS_ATTENTION orders across customers. Real API,
 * worker, PostgreSQL, Redis and Temporal; every response is checked against the OpenAPI document.
 */
import { randomUUID } from 'node:crypto';
import { OUTAGE_SWITCH } from '../../activities/payments';
import { TABLES } from '../../lib/db';
import { workflowIdFor } from '../../workflows/definitions';
import {
  createApiHarness,
  orderBody,
  undocumentedExchanges,
  waitForOrderStatus,
  type ApiHarness,
} from '../support/api-helpers';
import { insertProducts, uniqueSku } from '../support/services';

let h: ApiHarness;
let admin: string;

beforeAll(async () => {
  h = await createApiHarness({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '2' } });
  admin = h.token(`ops-${randomUUID().slice(0, 8)}`, { role: 'admin' });
});

afterAll(async () => {
  await setOutage(false);
  expect(undocumentedExchanges(h.exchanges)).toEqual([]);
  await h.close();
});

async function setOutage(enabled: boolean): Promise<void> {
  await h.db(TABLES.gatewaySwitches).insert({ name: OUTAGE_SWITCH, enabled }).onConflict('name').merge();
}

async function placeOrder(customerToken: string, token = 'tok_ok'): Promise<string> {
  const sku = uniqueSku('admin');
  await insertProducts(h.db, [{ sku, stock: 5 }]);
  const res = await h.request('POST', '/orders', {
    token: customerToken,
    body: orderBody([{ sku, quantity: 1 }], token),
  });
  expect(res.status).toBe(201);
  return (res.body as { orderId: string }).orderId;
}

describe('admin order actions', () => {
  it('when an order waits in NEEDS_ATTENTION and an admin retries its payment after the outage, then it completes', async () => {
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    const customer = h.token(customerId);
    await setOutage(true);
    const orderId = await placeOrder(customer);
    await waitForOrderStatus(h.db, orderId, ['NEEDS_ATTENTION']);

    // Across customers: the admin's NEEDS_ATTENTION list has it, the customer's own list too, nobody else's.
    const attention = await h.request('GET', '/orders?status=NEEDS_ATTENTION&limit=100', { token: admin });
    expect(attention.status).toBe(200);
    const listed = (attention.body as { orders: { orderId: string; status: string }[] }).orders;
    expect(listed.map((order) => order.orderId)).toContain(orderId);
    expect(new Set(listed.map((order) => order.status))).toEqual(new Set(['NEEDS_ATTENTION']));
    const other = h.token(`cust-${randomUUID().slice(0, 8)}`);
    const othersList = await h.request('GET', '/orders?status=NEEDS_ATTENTION', { token: other });
    expect((othersList.body as { orders: unknown[] }).orders).toEqual([]);
    // A customer may name themself in `?customerId=` (a client shared with admin screens does), never another.
    const own = await h.request('GET', `/orders?status=NEEDS_ATTENTION&customerId=${customerId}`, { token: customer });
    expect(own.status).toBe(200);
    expect((own.body as { orders: { orderId: string }[] }).orders.map((order) => order.orderId)).toEqual([orderId]);
    const foreign = await h.request('GET', `/orders?customerId=${customerId}`, { token: other });
    expect(foreign.status).toBe(400);
    expect(foreign.body).toMatchObject({ error: 'validation_failed', field: 'customerId' });

    await setOutage(false);
    const retried = await h.request('POST', `/orders/${orderId}/retry-payment`, { token: admin });
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ orderId, status: 'NEEDS_ATTENTION', retryRequested: true });
    await waitForOrderStatus(h.db, orderId, ['COMPLETED']);
    const payments = await h.db(TABLES.payments).where({ order_id: orderId }).select('status');
    expect(payments).toEqual([{ status: 'approved' }]);
  });

  it('when retry-payment carries a body other than {}, then it is refused (400/415), no signal is sent, and {} then retries', async () => {
    const customer = h.token(`cust-${randomUUID().slice(0, 8)}`);
    await setOutage(true);
    const orderId = await placeOrder(customer);
    await waitForOrderStatus(h.db, orderId, ['NEEDS_ATTENTION']);
    const path = `/orders/${orderId}/retry-payment`;
    const refusals = [
      [{ body: { force: true } }, 400, 'validation_failed'],
      [{ body: [] }, 400, 'validation_failed'],
      [{ body: null }, 400, 'validation_failed'],
      [{ raw: 'garbage', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
      [{ raw: 'garbage' }, 415, 'unsupported_media_type'],
      [{ raw: '{"force":', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
    ] as const;
    const answers: unknown[] = [];
    for (const [request] of refusals) {
      const res = await h.request('POST', path, { token: admin, ...request });
      answers.push([res.status, (res.body as { error?: unknown }).error]);
    }
    expect(answers).toEqual(refusals.map(([, status, error]) => [status, error]));
    const forced = await h.request('POST', path, { token: admin, body: { force: true } });
    expect(forced.body).toMatchObject({ field: 'force', message: 'force: unknown field' });
    const history = await h.client.workflow.getHandle(workflowIdFor(orderId)).fetchHistory();
    const signals = (history.events ?? []).filter(
      (event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'retryPayment',
    );
    expect(signals).toEqual([]);
    expect(await h.db(TABLES.orders).where({ id: orderId }).first('status')).toEqual({ status: 'NEEDS_ATTENTION' });

    await setOutage(false);
    const retried = await h.request('POST', path, { token: admin, body: {} });
    expect(retried.status).toBe(202);
    await waitForOrderStatus(h.db, orderId, ['COMPLETED']);
  });

  it('when the order is not NEEDS_ATTENTION, then retry-payment answers 409 not_in_attention with its status', async () => {
    const customer = h.token(`cust-${randomUUID().slice(0, 8)}`);
    const orderId = await placeOrder(customer);
    await waitForOrderStatus(h.db, orderId, ['COMPLETED']);
    const res = await h.request('POST', `/orders/${orderId}/retry-payment`, { token: admin });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'not_in_attention', orderId, status: 'COMPLETED' });
  });

  it('when a customer asks for a payment retry, then 403; when the order is unknown, then 404', async () => {
    const customer = h.token(`cust-${randomUUID().slice(0, 8)}`);
    const orderId = await placeOrder(customer);
    const forbidden = await h.request('POST', `/orders/${orderId}/retry-payment`, { token: customer });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: 'forbidden' });
    const unknown = await h.request('POST', `/orders/${randomUUID()}/retry-payment`, { token: admin });
    expect(unknown.status).toBe(404);
    expect((await h.request('POST', '/orders/not-a-uuid/retry-payment', { token: admin })).status).toBe(404);
  });

  it("when an admin cancels another customer's NEEDS_ATTENTION order, then it ends CANCELLED with its stock back", async () => {
    const customer = h.token(`cust-${randomUUID().slice(0, 8)}`);
    await setOutage(true);
    const orderId = await placeOrder(customer);
    await waitForOrderStatus(h.db, orderId, ['NEEDS_ATTENTION']);
    await setOutage(false);

    const res = await h.request('POST', `/orders/${orderId}/cancel`, {
      token: admin,
      body: { reason: 'customer phoned' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ orderId, cancelRequested: true });
    await waitForOrderStatus(h.db, orderId, ['CANCELLED']);
    const reservations = await h.db(TABLES.stockReservations).where({ order_id: orderId }).pluck('status');
    expect(reservations).toEqual(['released']);
  });
});
