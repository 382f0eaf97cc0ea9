import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb, MigrationSource, migrateLatest } from '../../lib/db';
import { DEMO_CATALOG } from '../../lib/catalog';
import { seedCatalog } from '../../scripts/seed-catalog';
import { ensureDatabase, withDatabase } from '../../scripts/services';

const TABLES_IN_DESIGN = ['products', 'orders', 'order_items', 'stock_reservations', 'payments', 'order_events'];

async function tablesOf(db: Knex): Promise<string[]> {
  const result = await db.raw<{ rows: { table_name: string }[] }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  );
  return result.rows.map((row) => row.table_name);
}

describe('migrations on real PostgreSQL', () => {
  // A database of its own: rolling everything back must not disturb the suites sharing the test database.
  const name = `orderflow_migrations_${randomUUID().slice(0, 8)}`;
  const base = process.env.TEST_DATABASE_URL ?? '';
  const adminUrl = withDatabase(base, 'postgres');
  let db: Knex;

  beforeAll(async () => {
    await ensureDatabase(adminUrl, name, true);
    db = createDb({ url: withDatabase(base, name), poolMax: 2 });
  });
  afterAll(async () => {
    await db.destroy();
    const admin = createDb({ url: adminUrl, poolMax: 1 });
    await admin.raw(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.destroy();
  });

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
