import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MigrationSource, migrateLatest } from '../../lib/db';
import { DEMO_CATALOG } from '../../lib/catalog';
import { checkInvariants } from '../../lib/invariants';
import { seedCatalog } from '../../lib/catalog';
import { privateDatabase, type PrivateDatabase } from '../support/services';

const TABLES_IN_DESIGN = [
  'products',
  'orders',
  'order_items',
  'stock_reservations',
  'payments',
  'order_events',
  'inventory_movements',
];
const LEDGER_MIGRATION = '20261130100000_inventory_ledger';

async function tablesOf(db: Knex): Promise<string[]> {
  const result = await db.raw<{ rows: { table_name: string }[] }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  );
  return result.rows.map((row) => row.table_name);
}

describe('migrations on real PostgreSQL', () => {
  // A database of its own: rolling everything back must not disturb the suites sharing the test database.
  let own: PrivateDatabase;
  let db: Knex;

  beforeAll(async () => {
    own = await privateDatabase('migrations', { migrate: false });
    db = own.db;
  });
  afterAll(() => own?.drop());

  it('when migrated up, then every DESIGN table exists; when rolled back, then none is left; up again works', async () => {
    const applied = await migrateLatest(db);
    expect(applied.length).toBeGreaterThan(0);
    expect(await tablesOf(db)).toEqual(expect.arrayContaining(TABLES_IN_DESIGN));
    expect(await migrateLatest(db)).toEqual([]);

    await db.migrate.rollback(undefined, true);
    const left = (await tablesOf(db)).filter((table) => !table.startsWith('knex_migrations'));
    expect(left).toEqual([]);

    await migrateLatest(db);
    expect(await tablesOf(db)).toEqual(expect.arrayContaining(TABLES_IN_DESIGN));
  });

  it('when stock would go negative, then the database refuses it', async () => {
    await db('products').insert({ sku: 'NEG-1', name: 'n', price_cents: 1, stock: 0 });
    await expect(db('products').where({ sku: 'NEG-1' }).decrement('stock', 1)).rejects.toThrow(
      /products_stock_non_negative/,
    );
  });

  it('when the seed runs twice, then the catalog is loaded once and existing stock is kept', async () => {
    expect(await seedCatalog(db)).toBe(DEMO_CATALOG.length);
    const first = DEMO_CATALOG[0];
    if (first === undefined) throw new Error('empty catalog');
    await db('products').where({ sku: first.sku }).update({ stock: 1 });
    expect(await seedCatalog(db)).toBe(0);
    const row = await db('products').where({ sku: first.sku }).first<{ stock: number }>();
    expect(row.stock).toBe(1);
    expect(DEMO_CATALOG.length).toBeGreaterThanOrEqual(18);
  });

  it.each([
    ['seed', ['--products=3'], 'usage: npm run seed (no arguments)'],
    ['migrate', ['sideways'], 'usage: npm run migrate [-- up|down|status|rollback-all]'],
  ])(
    'when `npm run %s` gets arguments it does not take, then it exits 2 with its usage and touches nothing',
    async (script, args, usage) => {
      const before = await db('products').count<{ count: string }[]>();
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], {
          cwd: path.resolve(__dirname, '..', '..'),
          env: { ...process.env, DATABASE_URL: own.url },
        });
        let stderr = '';
        child.stderr?.on('data', (chunk: string) => (stderr += chunk));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(usage);
      expect(await db('products').count<{ count: string }[]>()).toEqual(before);
    },
  );

  it('when an amount beyond Number.MAX_SAFE_INTEGER cents is written, then the database refuses it; the limit itself is stored', async () => {
    const order = (total: string) => ({
      id: randomUUID(),
      customer_id: 'c-money',
      status: 'PENDING',
      total_cents: total,
      request_hash: 'h',
      workflow_id: `wf-${randomUUID()}`,
    });
    await expect(db('orders').insert(order('9007199254740992'))).rejects.toThrow(/orders_total_cents_range/);
    await expect(db('orders').insert(order('-1'))).rejects.toThrow(/orders_total_cents_range/);
    const atLimit = order('9007199254740991');
    await db('orders').insert(atLimit);
    const payment = (amount: string) => ({
      idempotency_key: `pay-${randomUUID()}`,
      order_id: atLimit.id,
      amount_cents: amount,
      status: 'approved',
      card_fingerprint: 'f',
    });
    await expect(db('payments').insert(payment('9007199254740992'))).rejects.toThrow(/payments_amount_cents_range/);
    await db('payments').insert(payment('9007199254740991'));
  });

  it('when orders exist before orders.status_seq is added, then each takes the seq of its newest event', async () => {
    // Roll back, newest first, until the database is as it was before 20261121020000_order_status_seq.
    for (let guard = 0; (await db.schema.hasColumn('orders', 'status_seq')) && guard < 50; guard += 1) {
      await db.migrate.down();
    }
    expect(await db.schema.hasColumn('orders', 'status_seq')).toBe(false);
    const order = (status: string) => ({
      id: randomUUID(),
      customer_id: 'c-upgrade',
      status,
      total_cents: 100,
      request_hash: 'h',
      workflow_id: `wf-${randomUUID()}`,
    });
    const [paid, pending] = [order('PAID'), order('PENDING')];
    await db('orders').insert([paid, pending]);
    await db('order_events').insert(
      ['PENDING', 'RESERVED', 'CHARGING', 'PAID'].map((status, index) => ({
        order_id: paid.id,
        seq: index + 1,
        status,
      })),
    );

    expect(await migrateLatest(db)).toContain('20261121020000_order_status_seq');

    const seqs = await db('orders').whereIn('id', [paid.id, pending.id]).select('id', 'status_seq');
    expect(Object.fromEntries(seqs.map((row: { id: string; status_seq: number }) => [row.id, row.status_seq]))).toEqual(
      {
        [paid.id]: 4,
        [pending.id]: 1,
      },
    );
  });

  it('when products and reservations exist before the ledger, then the backfill makes stock = sum(movements)', async () => {
    await db.migrate.down({ name: LEDGER_MIGRATION });
    expect(await db.schema.hasTable('inventory_movements')).toBe(false);
    const [product] = await db('products')
      .insert({ sku: 'UPGRADE-1', name: 'upgrade', price_cents: 100, stock: 4 })
      .returning<{ id: number }[]>('id');
    const [untouched] = await db('products')
      .insert({ sku: 'UPGRADE-2', name: 'untouched', price_cents: 100, stock: 9 })
      .returning<{ id: number }[]>('id');
    if (product === undefined || untouched === undefined) throw new Error('insert returned nothing');
    // Started with 9: 3 held, 2 committed, 1 reserved and released again -> 4 left on the shelf.
    const reservation = (quantity: number, status: string) => ({
      order_id: randomUUID(),
      product_id: product.id,
      quantity,
      status,
    });
    const [held, committed, released] = [
      reservation(3, 'held'),
      reservation(2, 'committed'),
      reservation(1, 'released'),
    ];
    await db('stock_reservations').insert([held, committed, released]);

    expect(await migrateLatest(db)).toEqual([LEDGER_MIGRATION]);

    expect(await checkInvariants(db, { skus: ['UPGRADE-1', 'UPGRADE-2'] })).toEqual([]);
    const movements = await db('inventory_movements')
      .where({ product_id: product.id })
      .orderBy('id')
      .select('kind', 'quantity', 'order_id');
    expect(movements).toEqual(
      expect.arrayContaining([
        { kind: 'initial', quantity: 9, order_id: null },
        { kind: 'reserve', quantity: -3, order_id: held.order_id },
        { kind: 'reserve', quantity: -2, order_id: committed.order_id },
        { kind: 'commit', quantity: 0, order_id: committed.order_id },
        { kind: 'reserve', quantity: -1, order_id: released.order_id },
        { kind: 'release', quantity: 1, order_id: released.order_id },
      ]),
    );
    expect(movements).toHaveLength(6);
    expect(movements[0]).toMatchObject({ kind: 'initial' });
    expect(await db('inventory_movements').where({ product_id: untouched.id }).select('kind', 'quantity')).toEqual([
      { kind: 'initial', quantity: 9 },
    ]);
    const statuses = await db('products').whereIn('id', [product.id, untouched.id]).pluck('status');
    expect(statuses).toEqual(['published', 'published']);
    const thresholds = await db('products').whereIn('id', [product.id, untouched.id]).pluck('low_stock_threshold');
    expect(thresholds).toEqual([5, 5]);
  });

  it('when a movement contradicts its kind, then the database refuses it', async () => {
    const [product] = await db('products').where({ sku: 'UPGRADE-2' }).select<{ id: number }[]>('id');
    const insert = (kind: string, quantity: number) =>
      db('inventory_movements').insert({ product_id: product?.id, kind, quantity });
    await expect(insert('reserve', 2)).rejects.toThrow(/inventory_movements_quantity/);
    await expect(insert('commit', -1)).rejects.toThrow(/inventory_movements_quantity/);
    await expect(insert('adjustment', 0)).rejects.toThrow(/inventory_movements_quantity/);
    await expect(insert('theft', -1)).rejects.toThrow(/inventory_movements_kind/);
  });

  it('when the image runs compiled .js migrations on a database migrated from .ts, then the names match', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-migrations-'));
    try {
      for (const file of ['2_b.js', '1_a.ts', '1_a.js', '1_a.d.ts', '1_a.js.map'])
        writeFileSync(path.join(dir, file), '');
      expect(await new MigrationSource(dir).getMigrations()).toEqual(['1_a', '2_b']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const [done] = (await db.migrate.list()) as [{ name: string }[], unknown[]];
    expect(done.map((migration) => migration.name).every((name) => !/\.(ts|js)$/.test(name))).toBe(true);
  });
});
