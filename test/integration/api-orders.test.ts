/**
 * The HTTP API end to end: `createApp` on an ephemeral port, an in-process worker, real PostgreSQL, Redis and
 * Temporal. Orders go through HTTP to their final status; idempotency, cancel, isolation between customers,
 * pagination, and every response checked against the OpenAPI document.
 */
import { randomUUID } from 'node:crypto';
import { SNAPSHOT, TABLES } from '../../lib/db';
import { workflowIdFor } from '../../workflows/definitions';
import { apiHarnessForFile, orderBody, undocumentedExchanges, waitForOrderStatus } from '../support/api-helpers';
import { waitFor } from '../support/wait';
import { insertProducts, uniqueSku } from '../support/services';

interface Created {
  orderId: string;
  status: string;
  totalCents: number;
  items: { sku: string; quantity: number; unitPriceCents: number | null }[];
}

interface OrderView extends Created {
  payment: { status: string; amountCents: number } | null;
  events: { seq: number; status: string }[];
}

const h = apiHarnessForFile({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '3' } });

const customer = (): string => `cust-${randomUUID().slice(0, 8)}`;

async function product(label: string, stock: number, priceCents = 1000): Promise<string> {
  const sku = uniqueSku(label);
  await insertProducts(h.db, [{ sku, stock, priceCents }]);
  return sku;
}

async function stock(sku: string): Promise<number> {
  const row = await h.db(TABLES.products).where({ sku }).first<{ stock: number }>('stock');
  return row.stock;
}

/** An order's rows as of one moment (one REPEATABLE READ transaction; see saga-helpers' orderRows). */
async function rowsOf(orderId: string) {
  return h.db.transaction(
    async (trx) => ({
      orders: await trx(TABLES.orders).where({ id: orderId }).select('status'),
      reservations: await trx(TABLES.stockReservations).where({ order_id: orderId }).select('quantity', 'status'),
      payments: await trx(TABLES.payments).where({ order_id: orderId }).select('status', 'amount_cents'),
    }),
    SNAPSHOT,
  );
}

/** Waits until the order's workflow has closed (not only its row), so a repeat exercises the closed-run path. */
async function workflowClosed(orderId: string): Promise<void> {
  await waitFor(`workflow of ${orderId} closed`, async () => {
    const description = await h.client.workflow.getHandle(workflowIdFor(orderId)).describe();
    return description.status.name === 'RUNNING' ? undefined : true;
  });
}

describe('POST /orders through to the final status', () => {
  it.each([
    ['tok_ok', 'COMPLETED', 'approved', 0],
    ['tok_flaky', 'COMPLETED', 'approved', 0],
    ['tok_slow', 'COMPLETED', 'approved', 0],
    ['tok_decline', 'FAILED', 'declined', 3],
  ])(
    'when a customer orders with %s, then POST answers 201 RESERVED and the order ends %s',
    async (token, finalStatus, paymentStatus, stockBack) => {
      const sku = await product('happy', 10, 1250);
      const auth = h.token(customer());
      const created = await h.request('POST', '/orders', {
        token: auth,
        body: orderBody([{ sku, quantity: 3 }], token),
      });
      expect(created.status).toBe(201);
      const body = created.body as Created;
      expect(body).toMatchObject({
        status: 'RESERVED',
        totalCents: 3750,
        items: [{ sku, quantity: 3, unitPriceCents: 1250 }],
      });
      expect(created.headers.get('location')).toBe(`/orders/${body.orderId}`);
      expect(await stock(sku)).toBe(7);

      await waitForOrderStatus(h.db, body.orderId, [finalStatus]);
      const view = await h.request('GET', `/orders/${body.orderId}`, { token: auth });
      expect(view.status).toBe(200);
      const order = view.body as OrderView;
      expect(order).toMatchObject({ orderId: body.orderId, status: finalStatus, totalCents: 3750 });
      expect(order.payment).toMatchObject({ status: paymentStatus, amountCents: 3750 });
      expect(order.events.map((e) => e.status)).toEqual(
        finalStatus === 'COMPLETED'
          ? ['PENDING', 'RESERVED', 'CHARGING', 'PAID', 'COMPLETED']
          : ['PENDING', 'RESERVED', 'CHARGING', 'FAILED'],
      );
      expect(order.events.map((e) => e.seq)).toEqual(order.events.map((_, i) => i + 1));
      expect(await stock(sku)).toBe(7 + stockBack);
    },
  );

  it('when the gateway stays unavailable, then the order waits in NEEDS_ATTENTION, a repeat reports that status, and a cancel releases the stock', async () => {
    const sku = await product('attention', 5);
    const auth = h.token(customer());
    const body = orderBody([{ sku, quantity: 2 }], 'tok_unavailable');
    const headers = { 'Idempotency-Key': `key-${randomUUID()}` };
    const created = await h.request('POST', '/orders', { token: auth, body, headers });
    expect(created.status).toBe(201);
    const { orderId } = created.body as Created;
    await waitForOrderStatus(h.db, orderId, ['NEEDS_ATTENTION']);
    expect(await stock(sku)).toBe(3);
    const repeat = await h.request('POST', '/orders', { token: auth, body, headers });
    expect(repeat.status).toBe(201);
    expect(repeat.body).toMatchObject({ orderId, status: 'NEEDS_ATTENTION' });

    const cancel = await h.request('POST', `/orders/${orderId}/cancel`, {
      token: auth,
      body: { reason: 'changed my mind' },
    });
    expect(cancel.status).toBe(202);
    expect(cancel.body).toEqual({ orderId, status: 'NEEDS_ATTENTION', cancelRequested: true });
    await waitForOrderStatus(h.db, orderId, ['CANCELLED']);
    expect(await stock(sku)).toBe(5);

    const again = await h.request('POST', `/orders/${orderId}/cancel`, { token: auth });
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ orderId, status: 'CANCELLED', cancelRequested: true });
  });

  it('when stock is short, then POST answers 409 insufficient_stock with the shortage and holds nothing', async () => {
    const sku = await product('short', 2);
    const response = await h.request('POST', '/orders', {
      token: h.token(customer()),
      body: orderBody([{ sku, quantity: 5 }]),
    });
    expect(response.status).toBe(409);
    expect(response.body).toMatchObject({
      error: 'insufficient_stock',
      status: 'REJECTED',
      shortages: [{ sku, requested: 5, available: 2 }],
    });
    const { orderId } = response.body as { orderId: string };
    await waitForOrderStatus(h.db, orderId, ['REJECTED']);
    expect((await rowsOf(orderId)).reservations).toEqual([]);
    expect(await stock(sku)).toBe(2);
  });

  it('when a SKU is not in the catalog, then POST answers 422 unknown_sku naming it', async () => {
    const known = await product('known', 5);
    const response = await h.request('POST', '/orders', {
      token: h.token(customer()),
      body: orderBody([
        { sku: known, quantity: 1 },
        { sku: 'NO-SUCH-SKU-1', quantity: 1 },
      ]),
    });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ error: 'unknown_sku', status: 'REJECTED', skus: ['NO-SUCH-SKU-1'] });
    expect(await stock(known)).toBe(5);
  });
});

describe('Idempotency-Key', () => {
  it('when 20 identical POSTs with one key arrive at once, then all answer the same order with one reservation and one charge', async () => {
    const sku = await product('concurrent', 50, 700);
    const auth = h.token(customer());
    const body = orderBody([{ sku, quantity: 4 }]);
    const key = `key-${randomUUID()}`;
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.request('POST', '/orders', { token: auth, body, headers: { 'Idempotency-Key': key } }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(201));
    const ids = new Set(responses.map((r) => (r.body as Created).orderId));
    expect(ids.size).toBe(1);
    const [orderId] = [...ids] as [string];

    await waitForOrderStatus(h.db, orderId, ['COMPLETED']);
    const rows = await rowsOf(orderId);
    expect(rows.orders).toHaveLength(1);
    expect(rows.reservations).toEqual([{ quantity: 4, status: 'committed' }]);
    expect(rows.payments).toEqual([{ status: 'approved', amount_cents: '2800' }]);
    expect(await stock(sku)).toBe(46);
    const keyed = await h.db(TABLES.orders).where({ idempotency_key: key }).select('id');
    expect(keyed).toEqual([{ id: orderId }]);
  });

  it('when the key is reused with another body, then POST answers 422 idempotency_key_reused and nothing changes', async () => {
    const sku = await product('reuse', 10);
    const auth = h.token(customer());
    const headers = { 'Idempotency-Key': `key-${randomUUID()}` };
    const post = (quantity: number) =>
      h.request('POST', '/orders', { token: auth, body: orderBody([{ sku, quantity }]), headers });
    const first = await post(1);
    expect(first.status).toBe(201);
    const { orderId } = first.body as Created;
    const other = await post(2);
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ error: 'idempotency_key_reused', orderId });

    await waitForOrderStatus(h.db, orderId, ['COMPLETED']);
    await workflowClosed(orderId);
    const afterClose = await post(2);
    expect(afterClose.status).toBe(422);
    expect(afterClose.body).toMatchObject({ error: 'idempotency_key_reused', orderId });
    expect(await stock(sku)).toBe(9);
  });

  it('when a finished order is repeated with its key and body, then the same order comes back with its final status', async () => {
    const sku = await product('repeat', 10, 500);
    const auth = h.token(customer());
    const key = `key-${randomUUID()}`;
    const body = orderBody([{ sku, quantity: 2 }]);
    const first = await h.request('POST', '/orders', { token: auth, body, headers: { 'Idempotency-Key': key } });
    const { orderId } = first.body as Created;
    await waitForOrderStatus(h.db, orderId, ['COMPLETED']);
    await workflowClosed(orderId);

    const repeat = await h.request('POST', '/orders', { token: auth, body, headers: { 'Idempotency-Key': key } });
    expect(repeat.status).toBe(201);
    expect(repeat.body).toEqual({
      orderId,
      customerId: expect.any(String),
      status: 'COMPLETED',
      totalCents: 1000,
      currency: 'USD',
      items: [{ sku, quantity: 2, unitPriceCents: 500 }],
      idempotencyKey: key,
    });
    const rows = await rowsOf(orderId);
    expect(rows.payments).toHaveLength(1);
    expect(await stock(sku)).toBe(8);
  });

  it('when a rejected order is repeated with its key after its workflow closed, then the same 409 comes back', async () => {
    const sku = await product('rejrepeat', 1);
    const auth = h.token(customer());
    const key = `key-${randomUUID()}`;
    const body = orderBody([{ sku, quantity: 3 }]);
    const first = await h.request('POST', '/orders', { token: auth, body, headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(409);
    const { orderId } = first.body as { orderId: string };
    await workflowClosed(orderId);
    const repeat = await h.request('POST', '/orders', { token: auth, body, headers: { 'Idempotency-Key': key } });
    expect(repeat.status).toBe(409);
    expect(repeat.body).toEqual(first.body);
  });

  it('when the same body is posted twice without a key, then two orders are created', async () => {
    const sku = await product('nokey', 10);
    const auth = h.token(customer());
    const body = orderBody([{ sku, quantity: 1 }]);
    const [a, b] = await Promise.all([
      h.request('POST', '/orders', { token: auth, body }),
      h.request('POST', '/orders', { token: auth, body }),
    ]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect((a.body as Created).orderId).not.toBe((b.body as Created).orderId);
    expect(await stock(sku)).toBe(8);
  });
});

describe('cancel, visibility and listing', () => {
  it('when a completed order is cancelled, then the API answers 409 not_cancellable with its status', async () => {
    const sku = await product('done', 5);
    const auth = h.token(customer());
    const created = await h.request('POST', '/orders', { token: auth, body: orderBody([{ sku, quantity: 1 }]) });
    const { orderId } = created.body as Created;
    await waitForOrderStatus(h.db, orderId, ['COMPLETED']);
    const cancel = await h.request('POST', `/orders/${orderId}/cancel`, { token: auth });
    expect(cancel.status).toBe(409);
    expect(cancel.body).toMatchObject({ error: 'not_cancellable', orderId, status: 'COMPLETED' });
  });

  it("when customer B reads, lists or cancels A's order, then it looks like it does not exist; an admin sees it", async () => {
    const sku = await product('isolation', 10);
    const alice = customer();
    const bob = customer();
    const aliceToken = h.token(alice);
    const bobToken = h.token(bob);
    const created = await h.request('POST', '/orders', {
      token: aliceToken,
      body: orderBody([{ sku, quantity: 1 }], 'tok_unavailable'),
    });
    const { orderId } = created.body as Created;
    await h.request('POST', '/orders', { token: bobToken, body: orderBody([{ sku, quantity: 1 }]) });

    const read = await h.request('GET', `/orders/${orderId}`, { token: bobToken });
    expect(read.status).toBe(404);
    expect(read.body).toMatchObject({ error: 'not_found' });
    const cancel = await h.request('POST', `/orders/${orderId}/cancel`, { token: bobToken });
    expect(cancel.status).toBe(404);
    const list = await h.request('GET', '/orders?limit=100', { token: bobToken });
    expect((list.body as { orders: { customerId: string }[] }).orders.map((o) => o.customerId)).toEqual([bob]);
    const filter = await h.request('GET', `/orders?customerId=${alice}`, { token: bobToken });
    expect(filter.status).toBe(400);
    expect(filter.body).toMatchObject({ error: 'validation_failed', field: 'customerId' });
    expect((await h.db(TABLES.orders).where({ id: orderId }).first<{ status: string }>('status')).status).not.toBe(
      'CANCELLED',
    );

    const admin = h.token('ops-1', { role: 'admin' });
    expect((await h.request('GET', `/orders/${orderId}`, { token: admin })).status).toBe(200);
    const adminList = await h.request('GET', `/orders?customerId=${alice}`, { token: admin });
    expect((adminList.body as { orders: { orderId: string }[] }).orders.map((o) => o.orderId)).toEqual([orderId]);
    const adminCancel = await h.request('POST', `/orders/${orderId}/cancel`, { token: admin });
    expect(adminCancel.status).toBe(202);
    await waitForOrderStatus(h.db, orderId, ['CANCELLED']);
  });

  it('when a customer pages through their orders, then they come newest first without gaps or repeats, filterable by status', async () => {
    const auth = h.token(customer());
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const response = await h.request('POST', '/orders', {
        token: auth,
        body: orderBody([{ sku: `NO-SUCH-${i}`, quantity: 1 }]),
      });
      expect(response.status).toBe(422);
      ids.push((response.body as { orderId: string }).orderId);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const page = await h.request('GET', `/orders${query}`, { token: auth });
      expect(page.status).toBe(200);
      const body = page.body as { orders: { orderId: string }[]; nextCursor: string | null };
      seen.push(...body.orders.map((o) => o.orderId));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    await Promise.all(ids.map((id) => waitForOrderStatus(h.db, id, ['REJECTED'])));
    const rejected = await h.request('GET', '/orders?status=REJECTED&limit=100', { token: auth });
    expect((rejected.body as { orders: unknown[] }).orders).toHaveLength(5);
    const paid = await h.request('GET', '/orders?status=PAID', { token: auth });
    expect(paid.body).toEqual({ orders: [], nextCursor: null });
  });
});

describe('catalog and operations endpoints', () => {
  it('when the catalog is read, then it lists products with price and stock without a token', async () => {
    const sku = await product('catalog', 12, 990);
    const response = await h.request('GET', '/products');
    expect(response.status).toBe(200);
    expect(response.body).toEqual(expect.arrayContaining([{ sku, name: sku, priceCents: 990, stock: 12 }]));
  });

  it('when health, readiness and metrics are asked for, then they answer 200 with every dependency up', async () => {
    expect((await h.request('GET', '/health')).body).toEqual({ status: 'ok' });
    const ready = await h.request('GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { temporal: 'ok', postgres: 'ok', redis: 'ok' } });
    const metrics = await h.request('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('orderflow_api_http_request_duration_seconds_bucket');
    expect(metrics.text).toMatch(/orderflow_api_orders_total\{outcome="created"\} \d+/);
    expect(metrics.text).toContain('route="/orders/:id"');
  });

  it('when the demo page on another allowed origin calls the API, then preflight and responses carry CORS headers', async () => {
    const origin = 'http://localhost:3001';
    const preflight = await h.request('OPTIONS', '/orders', {
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Idempotency-Key/);
    const denied = await h.request('GET', '/orders', { headers: { origin } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(origin);
    const foreign = await h.request('GET', '/products', { headers: { origin: 'https://evil.example' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('when every response of this file is checked against the OpenAPI document, then each status and body is documented', () => {
    expect(h.exchanges.length).toBeGreaterThan(40);
    expect(undocumentedExchanges(h.exchanges)).toEqual([]);
  });
});
