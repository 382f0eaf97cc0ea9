import type { Knex } from 'knex';

/** Creates every table of docs/design.md: catalog, orders, reservations, the payment ledger and the event outbox. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('products', (t) => {
    t.increments('id').primary();
    t.string('sku', 64).notNullable().unique();
    t.string('name', 200).notNullable();
    t.integer('price_cents').notNullable();
    t.integer('stock').notNullable();
    t.timestamps(true, true);
  });
  await knex.raw('ALTER TABLE products ADD CONSTRAINT products_stock_non_negative CHECK (stock >= 0)');
  await knex.raw('ALTER TABLE products ADD CONSTRAINT products_price_non_negative CHECK (price_cents >= 0)');

  await knex.schema.createTable('orders', (t) => {
    t.uuid('id').primary();
    t.string('customer_id', 128).notNullable();
    t.string('status', 32).notNullable();
    t.bigInteger('total_cents').notNullable();
    t.string('currency', 3).notNullable().defaultTo('USD');
    t.string('idempotency_key', 255).nullable();
    t.string('request_hash', 64).notNullable();
    t.string('workflow_id', 128).notNullable().unique();
    t.text('failure_reason').nullable();
    t.timestamps(true, true);
    t.unique(['customer_id', 'idempotency_key']);
    t.index(['customer_id', 'created_at']);
    t.index(['status']);
  });

  await knex.schema.createTable('order_items', (t) => {
    t.uuid('order_id').notNullable().references('id').inTable('orders').onDelete('CASCADE');
    t.integer('product_id').notNullable().references('id').inTable('products');
    t.string('sku', 64).notNullable();
    t.integer('quantity').notNullable();
    t.integer('unit_price_cents').notNullable();
    t.primary(['order_id', 'product_id']);
  });
  await knex.raw('ALTER TABLE order_items ADD CONSTRAINT order_items_quantity_positive CHECK (quantity > 0)');

  await knex.schema.createTable('stock_reservations', (t) => {
    t.uuid('order_id').notNullable();
    t.integer('product_id').notNullable().references('id').inTable('products');
    t.integer('quantity').notNullable();
    t.string('status', 16).notNullable();
    t.timestamps(true, true);
    t.primary(['order_id', 'product_id']);
    t.index(['product_id', 'status']);
  });
  await knex.raw(
    "ALTER TABLE stock_reservations ADD CONSTRAINT stock_reservations_status CHECK (status IN ('held', 'committed', 'released'))",
  );
  await knex.raw(
    'ALTER TABLE stock_reservations ADD CONSTRAINT stock_reservations_quantity_positive CHECK (quantity > 0)',
  );

  await knex.schema.createTable('payments', (t) => {
    t.increments('id').primary();
    t.string('idempotency_key', 255).notNullable().unique();
    t.uuid('order_id').notNullable();
    t.bigInteger('amount_cents').notNullable();
    t.string('status', 16).notNullable();
    t.integer('attempts').notNullable().defaultTo(1);
    t.string('card_fingerprint', 64).notNullable();
    t.string('decline_reason', 200).nullable();
    t.timestamps(true, true);
    t.index(['order_id']);
  });
  await knex.raw(
    "ALTER TABLE payments ADD CONSTRAINT payments_status CHECK (status IN ('approved', 'declined', 'refunded'))",
  );

  await knex.schema.createTable('order_events', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('order_id').notNullable();
    t.integer('seq').notNullable();
    t.string('status', 32).notNullable();
    t.jsonb('detail').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['order_id', 'seq']);
  });

  // Operator switches for the simulated payment gateway (e.g. the outage switch), shared by every worker.
  await knex.schema.createTable('gateway_switches', (t) => {
    t.string('name', 64).primary();
    t.boolean('enabled').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

/** Drops everything `up` created, in dependency order. */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('gateway_switches');
  await knex.schema.dropTableIfExists('order_events');
  await knex.schema.dropTableIfExists('payments');
  await knex.schema.dropTableIfExists('stock_reservations');
  await knex.schema.dropTableIfExists('order_items');
  await knex.schema.dropTableIfExists('orders');
  await knex.schema.dropTableIfExists('products');
}
