/**
 * The catalog over HTTP (admin): products with a publish flow, stock adjustments and the movement ledger; only
 * published products are listed and orderable. Real API, worker, PostgreSQL, Redis and Temporal; every response is
 * checked against the OpenAPI document.
 */
import { randomUUID } from 'node:crypto';
import { TABLES } from '../../lib/db';
import { MAX_REASON_LENGTH } from '../../lib/storable-text';
import { CATALOG_LIMITS } from '../../api/validation';
import { createApiHarness, orderBody, snapshot, undocumentedExchanges, type ApiHarness } from '../support/api-helpers';
import { insertProducts, uniqueSku } from '../support/services';

interface ProductBody {
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
  status: string;
  lowStockThreshold: number;
}

interface MovementPage {
  sku: string;
  movements: { movementId: string; kind: string; quantity: number; orderId: string | null; reason: string | null }[];
  nextCursor: string | null;
}

let h: ApiHarness;
let admin: string;
let customer: string;

beforeAll(async () => {
  h = await createApiHarness();
  admin = h.token(`ops-${randomUUID().slice(0, 8)}`, { role: 'admin' });
  customer = h.token(`cust-${randomUUID().slice(0, 8)}`);
});

afterAll(async () => {
  expect(undocumentedExchanges(h.exchanges)).toEqual([]);
  await h.close();
});

async function createProduct(fields: Partial<ProductBody> = {}): Promise<ProductBody> {
  const sku = fields.sku ?? uniqueSku('cat');
  const res = await h.request('POST', '/products', {
    token: admin,
    body: { sku, name: `Product ${sku}`, priceCents: 1500, ...fields },
  });
  expect(res.status).toBe(201);
  return res.body as ProductBody;
}

async function listedSkus(): Promise<string[]> {
  const res = await h.request('GET', '/products');
  expect(res.status).toBe(200);
  return (res.body as { sku: string }[]).map((p) => p.sku);
}

describe('catalog', () => {
  it('when an admin creates a product without a status, then it is a draft with its opening stock in the ledger', async () => {
    const product = await createProduct({ stock: 7 });
    expect(product).toMatchObject({ status: 'draft', stock: 7, lowStockThreshold: 5, priceCents: 1500 });
    expect(await listedSkus()).not.toContain(product.sku);
    const ledger = await h.request('GET', `/products/${product.sku}/movements`, { token: admin });
    expect((ledger.body as MovementPage).movements).toEqual([
      expect.objectContaining({ kind: 'initial', quantity: 7, orderId: null }),
    ]);
  });

  it('when a product goes draft -> published -> archived -> draft, then it is listed only while published', async () => {
    const { sku } = await createProduct();
    const patch = (status: string) => h.request('PATCH', `/products/${sku}`, { token: admin, body: { status } });

    expect((await patch('published')).body).toMatchObject({ sku, status: 'published' });
    expect(await listedSkus()).toContain(sku);
    expect((await patch('archived')).body).toMatchObject({ status: 'archived' });
    expect(await listedSkus()).not.toContain(sku);
    expect((await patch('draft')).body).toMatchObject({ status: 'draft' });
    expect(await listedSkus()).not.toContain(sku);
  });

  it('when a draft is archived directly, then 409 invalid_status_transition names both statuses', async () => {
    const { sku } = await createProduct();
    const res = await h.request('PATCH', `/products/${sku}`, { token: admin, body: { status: 'archived' } });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'invalid_status_transition', sku, from: 'draft', to: 'archived' });
    expect(await h.db(TABLES.products).where({ sku }).first('status')).toEqual({ status: 'draft' });
  });

  it('when a product is created archived, then 400 names the status and nothing is created', async () => {
    const sku = uniqueSku('cat-archived');
    const res = await h.request('POST', '/products', {
      token: admin,
      body: { sku, name: `Product ${sku}`, priceCents: 1500, status: 'archived' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_failed', field: 'status' });
    expect(await h.db(TABLES.products).where({ sku }).first('id')).toBeUndefined();
  });

  it('when the SKU exists, then POST /products answers 409 product_exists and changes nothing', async () => {
    const { sku } = await createProduct({ stock: 2 });
    const res = await h.request('POST', '/products', {
      token: admin,
      body: { sku, name: 'again', priceCents: 1, stock: 50 },
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'product_exists', sku });
    expect(await h.db(TABLES.products).where({ sku }).first('name', 'stock')).toEqual({
      name: `Product ${sku}`,
      stock: 2,
    });
  });

  it.each([
    ['a name with NUL', { name: 'a\u0000b' }, 'name'],
    ['a name with a lone surrogate', { name: 'a\uD800b' }, 'name'],
    ['a name with a bidirectional isolate', { name: 'Mug \u2067gum\u2069' }, 'name'],
    ['a negative price', { priceCents: -1 }, 'priceCents'],
    ['a fractional stock', { stock: 1.5 }, 'stock'],
    ['an unknown status', { status: 'live' }, 'status'],
    ['a lower-case SKU', { sku: 'abc' }, 'sku'],
    ['an unknown field', { colour: 'red' }, 'colour'],
  ])(
    'when POST /products carries %s, then 400 names the field and nothing is created',
    async (_what, fields, field) => {
      const before = await h.db(TABLES.products).count<{ count: string }[]>();
      const res = await h.request('POST', '/products', {
        token: admin,
        body: { sku: uniqueSku('bad'), name: 'n', priceCents: 1, ...fields },
      });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'validation_failed', field });
      expect(await h.db(TABLES.products).count()).toEqual(before);
    },
  );

  it('when PATCH carries no field, then 400; when the SKU is unknown, then 404', async () => {
    const { sku } = await createProduct();
    expect((await h.request('PATCH', `/products/${sku}`, { token: admin, body: {} })).status).toBe(400);
    const unknown = await h.request('PATCH', `/products/NO-SUCH-${randomUUID().slice(0, 8).toUpperCase()}`, {
      token: admin,
      body: { name: 'x' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'not_found' });
  });

  it('when a customer calls an admin route, then 403 forbidden and nothing changes', async () => {
    const { sku } = await createProduct({ stock: 4 });
    const calls = [
      h.request('POST', '/products', { token: customer, body: { sku: uniqueSku('x'), name: 'x', priceCents: 1 } }),
      h.request('PATCH', `/products/${sku}`, { token: customer, body: { status: 'published' } }),
      h.request('POST', `/products/${sku}/stock-adjustments`, { token: customer, body: { delta: 5, reason: 'x' } }),
      h.request('GET', `/products/${sku}/movements`, { token: customer }),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: 'forbidden' });
    }
    expect(await h.db(TABLES.products).where({ sku }).first('status', 'stock')).toEqual({ status: 'draft', stock: 4 });
  });
});

describe('ordering and the catalog', () => {
  it('when an order names a draft and an archived SKU, then 422 product_unavailable names both and no order exists', async () => {
    const draft = await createProduct({ stock: 5 });
    const archived = await createProduct({ stock: 5, status: 'published' });
    await h.request('PATCH', `/products/${archived.sku}`, { token: admin, body: { status: 'archived' } });
    const published = await createProduct({ stock: 5, status: 'published' });
    const before = await snapshot(h.db);

    const res = await h.request('POST', '/orders', {
      token: customer,
      body: orderBody([
        { sku: published.sku, quantity: 1 },
        { sku: draft.sku, quantity: 1 },
        { sku: archived.sku, quantity: 1 },
      ]),
    });

    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ error: 'product_unavailable', skus: [draft.sku, archived.sku].sort() });
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('when a price changes after an order was placed, then the order keeps the price it was reserved at', async () => {
    const sku = uniqueSku('price');
    await insertProducts(h.db, [{ sku, stock: 5, priceCents: 1000 }]);
    const placed = await h.request('POST', '/orders', { token: customer, body: orderBody([{ sku, quantity: 2 }]) });
    expect(placed.status).toBe(201);
    const { orderId } = placed.body as { orderId: string };

    const patched = await h.request('PATCH', `/products/${sku}`, { token: admin, body: { priceCents: 2500 } });
    expect(patched.body).toMatchObject({ priceCents: 2500 });

    const order = await h.request('GET', `/orders/${orderId}`, { token: customer });
    expect(order.body).toMatchObject({ totalCents: 2000, items: [{ sku, quantity: 2, unitPriceCents: 1000 }] });
    const next = await h.request('POST', '/orders', { token: customer, body: orderBody([{ sku, quantity: 1 }]) });
    expect(next.body).toMatchObject({ totalCents: 2500 });
  });
});

describe('stock adjustments and movements', () => {
  it('when stock is adjusted up and down, then 201 returns the new stock and each movement, newest first', async () => {
    const { sku } = await createProduct({ stock: 3 });
    const up = await h.request('POST', `/products/${sku}/stock-adjustments`, {
      token: admin,
      body: { delta: 10, reason: 'delivery #42' },
    });
    expect(up.status).toBe(201);
    expect(up.body).toEqual({ sku, stock: 13, movementId: expect.any(String) });
    const down = await h.request('POST', `/products/${sku}/stock-adjustments`, {
      token: admin,
      body: { delta: -4, reason: 'damaged in storage' },
    });
    expect(down.body).toMatchObject({ sku, stock: 9 });

    const ledger = (await h.request('GET', `/products/${sku}/movements`, { token: admin })).body as MovementPage;
    expect(ledger.movements.map((m) => [m.kind, m.quantity, m.reason])).toEqual([
      ['adjustment', -4, 'damaged in storage'],
      ['adjustment', 10, 'delivery #42'],
      ['initial', 3, 'product created'],
    ]);
    expect(ledger.movements[0]?.movementId).toBe((down.body as { movementId: string }).movementId);
    expect(ledger.nextCursor).toBeNull();
  });

  it('when a delta would take stock below zero, then 409 insufficient_stock and nothing changes', async () => {
    const { sku } = await createProduct({ stock: 3 });
    const res = await h.request('POST', `/products/${sku}/stock-adjustments`, {
      token: admin,
      body: { delta: -4, reason: 'count' },
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'insufficient_stock', sku, stock: 3, delta: -4 });
    const ledger = (await h.request('GET', `/products/${sku}/movements`, { token: admin })).body as MovementPage;
    expect(ledger.movements).toHaveLength(1);
    expect(await h.db(TABLES.products).where({ sku }).first('stock')).toEqual({ stock: 3 });
  });

  it('when an increase would take stock on hand (in stock plus held) above the limit, then 409 stock_limit_exceeded and nothing changes', async () => {
    const max = CATALOG_LIMITS.maxStock;
    const { sku } = await createProduct({ stock: max - 10 });
    const product = await h.db(TABLES.products).where({ sku }).first<{ id: number }>('id');
    // Four units held by an order: they return to stock when it is released, so they count against the limit.
    const holder = randomUUID();
    await h
      .db(TABLES.stockReservations)
      .insert({ order_id: holder, product_id: product.id, quantity: 4, status: 'held' });
    try {
      const adjust = (delta: number) =>
        h.request('POST', `/products/${sku}/stock-adjustments`, { token: admin, body: { delta, reason: 'delivery' } });

      const refused = await adjust(7);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ error: 'stock_limit_exceeded', sku, stock: max - 10, held: 4, delta: 7 });
      expect(await h.db(TABLES.products).where({ sku }).first('stock')).toEqual({ stock: max - 10 });
      const ledger = (await h.request('GET', `/products/${sku}/movements`, { token: admin })).body as MovementPage;
      expect(ledger.movements).toHaveLength(1);

      expect((await adjust(6)).status).toBe(201);
      expect(await h.db(TABLES.products).where({ sku }).first('stock')).toEqual({ stock: max - 4 });
    } finally {
      await h.db(TABLES.stockReservations).where({ order_id: holder }).delete();
    }
  });

  it.each([
    ['a zero delta', { delta: 0, reason: 'x' }, 'delta'],
    ['a fractional delta', { delta: 1.5, reason: 'x' }, 'delta'],
    ['a missing reason', { delta: 1 }, 'reason'],
    ['an empty reason', { delta: 1, reason: '' }, 'reason'],
    ['a reason too long', { delta: 1, reason: 'r'.repeat(MAX_REASON_LENGTH + 1) }, 'reason'],
    ['a reason with NUL', { delta: 1, reason: 'a\u0000' }, 'reason'],
    ['an unknown field', { delta: 1, reason: 'x', note: 'y' }, 'note'],
  ])('when an adjustment carries %s, then 400 names the field and stock is unchanged', async (_what, body, field) => {
    const { sku } = await createProduct({ stock: 3 });
    const res = await h.request('POST', `/products/${sku}/stock-adjustments`, { token: admin, body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_failed', field });
    expect(await h.db(TABLES.products).where({ sku }).first('stock')).toEqual({ stock: 3 });
  });

  it.each([
    ['a repeated limit', '?limit=1&limit=2', 'limit'],
    ['a limit of 0', '?limit=0', 'limit'],
    ['a limit above the page maximum', '?limit=101', 'limit'],
    ['an empty cursor', '?cursor=', 'cursor'],
    ['U+0000 in the cursor', '?cursor=a%00b', 'cursor'],
    ['an unknown parameter', '?offset=5', 'offset'],
  ])('when the movements are listed with %s (%s), then 400 names %s', async (_what, query, field) => {
    const { sku } = await createProduct({ stock: 3 });
    const res = await h.request('GET', `/products/${sku}/movements${query}`, { token: admin });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_failed', field });
  });

  const b64 = (text: string): string => Buffer.from(text).toString('base64url');
  it.each([
    ['19 nines', b64('m:9999999999999999999')],
    ['bigint maximum + 1', b64('m:9223372036854775808')],
    ['id 0', b64('m:0')],
    ['a malformed cursor', b64('x')],
    ['an id with leading zeros', b64('m:0001')],
    // Node's decoder skips the space and ignores the last character's spare bits: both read as m:10.
    ['a space inside', `${b64('m:10').slice(0, 3)}%20${b64('m:10').slice(3)}`],
    ['non-canonical final bits', `${b64('m:10').slice(0, -1)}B`],
  ])(
    'when the movements are listed with a cursor of %s, then 400 says it is not a cursor of ours, never a 500',
    async (_what, raw) => {
      const { sku } = await createProduct({ stock: 3 });
      const res = await h.request('GET', `/products/${sku}/movements?cursor=${raw}`, { token: admin });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: 'validation_failed',
        message: 'cursor: not a cursor returned by a previous page',
        field: 'cursor',
      });
    },
  );

  it('when the movement cursor names the bigint maximum, then the page starts at the newest movement', async () => {
    const { sku } = await createProduct({ stock: 3 });
    const raw = Buffer.from('m:9223372036854775807').toString('base64url');
    const res = await h.request('GET', `/products/${sku}/movements?cursor=${raw}`, { token: admin });
    expect(res.status).toBe(200);
    expect((res.body as MovementPage).movements.map((m) => m.kind)).toEqual(['initial']);
  });

  it('when the SKU is unknown, then adjustments and movements answer 404', async () => {
    const sku = `NO-SUCH-${randomUUID().slice(0, 8).toUpperCase()}`;
    const adjust = await h.request('POST', `/products/${sku}/stock-adjustments`, {
      token: admin,
      body: { delta: 1, reason: 'x' },
    });
    expect(adjust.status).toBe(404);
    expect((await h.request('GET', `/products/${sku}/movements`, { token: admin })).status).toBe(404);
    expect((await h.request('GET', `/products/lower-case/movements`, { token: admin })).status).toBe(404);
  });

  it('when movements are paged, then every movement appears once, newest first, and the last page has no cursor', async () => {
    const { sku } = await createProduct({ stock: 1 });
    for (let i = 1; i <= 4; i += 1) {
      await h.request('POST', `/products/${sku}/stock-adjustments`, {
        token: admin,
        body: { delta: i, reason: `r${i}` },
      });
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const page = (await h.request('GET', `/products/${sku}/movements${query}`, { token: admin }))
        .body as MovementPage;
      expect(page.movements.length).toBeLessThanOrEqual(2);
      seen.push(...page.movements.map((m) => m.quantity));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual([4, 3, 2, 1, 1]);
  });

  it.each([
    { what: 'an unknown parameter', query: '?limt=2', field: 'limt' },
    { what: 'a repeated parameter', query: '?limit=2&limit=3', field: 'limit' },
    { what: 'a limit of 0', query: '?limit=0', field: 'limit' },
    { what: 'a forged cursor', query: '?cursor=bm90LWEtY3Vyc29y', field: 'cursor' },
  ])('when GET movements has $what, then 400 names it', async ({ query, field }) => {
    const { sku } = await createProduct();
    const res = await h.request('GET', `/products/${sku}/movements${query}`, { token: admin });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_failed', field });
  });
});
