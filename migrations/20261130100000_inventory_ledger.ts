import type { Knex } from 'knex';

/**
 * The catalog's publish flow and the inventory ledger: `products.status` (draft | published | archived; existing
 * products are published, as they were orderable), `products.low_stock_threshold` (default 5), and
 * `inventory_movements`, one row per change of stock. Existing products get their history reconstructed from the
 * reservations, so `stock = sum(movements)` holds on an upgraded database: an `initial` movement of the stock they
 * started with (current stock + held + committed), then per reservation a `reserve` (and a `release` or a zero
 * `commit` as it ended).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('products', (t) => {
    t.string('status', 16).notNullable().defaultTo('published');
    t.integer('low_stock_threshold').notNullable().defaultTo(5);
  });
  // New rows default to draft from now on; the API always says which status it wants.
  await knex.raw("ALTER TABLE products ALTER COLUMN status SET DEFAULT 'draft'");
  await knex.raw(
    "ALTER TABLE products ADD CONSTRAINT products_status CHECK (status IN ('draft', 'published', 'archived'))",
  );
  await knex.raw(
    'ALTER TABLE products ADD CONSTRAINT products_low_stock_threshold_non_negative CHECK (low_stock_threshold >= 0)',
  );

  await knex.schema.createTable('inventory_movements', (t) => {
    t.bigIncrements('id').primary();
    t.integer('product_id').notNullable().references('id').inTable('products').onDelete('CASCADE');
    t.string('kind', 16).notNullable();
    t.integer('quantity').notNullable();
    t.uuid('order_id').nullable();
    t.string('reason', 200).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['product_id', 'id']);
    t.index(['order_id']);
  });
  await knex.raw(`ALTER TABLE inventory_movements ADD CONSTRAINT inventory_movements_kind
    CHECK (kind IN ('initial', 'reserve', 'release', 'commit', 'adjustment'))`);
  // Only a commit moves nothing; reserves take, releases give back, an adjustment is never zero.
  await knex.raw(`ALTER TABLE inventory_movements ADD CONSTRAINT inventory_movements_quantity CHECK (
    (kind = 'commit' AND quantity = 0) OR (kind = 'reserve' AND quantity < 0) OR (kind = 'release' AND quantity > 0)
    OR (kind = 'adjustment' AND quantity <> 0) OR (kind = 'initial' AND quantity >= 0))`);

  await knex.raw(`
    INSERT INTO inventory_movements (product_id, kind, quantity, order_id, reason, created_at)
    SELECT product_id, kind, quantity, order_id, reason, created_at FROM (
      SELECT p.id AS product_id, 'initial' AS kind,
             p.stock + COALESCE(SUM(r.quantity) FILTER (WHERE r.status IN ('held', 'committed')), 0)::int AS quantity,
             NULL::uuid AS order_id, 'backfilled by migration' AS reason, p.created_at, 0 AS step
        FROM products p LEFT JOIN stock_reservations r ON r.product_id = p.id
       GROUP BY p.id
      UNION ALL
      SELECT product_id, 'reserve', -quantity, order_id, NULL, created_at, 1 FROM stock_reservations
      UNION ALL
      SELECT product_id, 'release', quantity, order_id, NULL, updated_at, 2 FROM stock_reservations
       WHERE status = 'released'
      UNION ALL
      SELECT product_id, 'commit', 0, order_id, NULL, updated_at, 2 FROM stock_reservations
       WHERE status = 'committed'
    ) history
    ORDER BY created_at, step`);
}

/** Drops the ledger and the catalog columns. */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('inventory_movements');
  await knex.schema.alterTable('products', (t) => {
    t.dropColumn('low_stock_threshold');
    t.dropColumn('status');
  });
}
