import type { Knex } from 'knex';

/**
 * Order exports as tracked operations: `exports` (one row per POST /exports: who asked, the filters, status and
 * progress) and `export_pages` (one row per CSV page written under EXPORTS_DIR, keyed by page number, so a page
 * written before a worker died is found, not written twice, when the export resumes), and an index on orders'
 * (created_at, id) to page through them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('exports', (t) => {
    t.uuid('id').primary();
    t.string('requested_by', 128).notNullable();
    t.string('format', 16).notNullable();
    t.jsonb('filters').notNullable().defaultTo('{}');
    t.string('status', 16).notNullable();
    // Orders created after this instant are not part of the export, so its page boundaries never move.
    t.timestamp('cutoff', { useTz: true }).notNullable();
    t.integer('orders_total').nullable();
    t.integer('orders_done').notNullable().defaultTo(0);
    t.integer('rows').notNullable().defaultTo(0);
    t.integer('pages').notNullable().defaultTo(0);
    t.string('workflow_id', 128).notNullable().unique();
    t.text('error').nullable();
    t.timestamps(true, true);
    t.timestamp('completed_at', { useTz: true }).nullable();
    t.index(['requested_by', 'created_at']);
  });
  await knex.raw(
    "ALTER TABLE exports ADD CONSTRAINT exports_status CHECK (status IN ('running', 'completed', 'failed', 'cancelled'))",
  );

  await knex.schema.createTable('export_pages', (t) => {
    t.uuid('export_id').notNullable().references('id').inTable('exports').onDelete('CASCADE');
    t.integer('page').notNullable();
    t.integer('orders').notNullable();
    t.integer('rows').notNullable();
    t.bigInteger('bytes').notNullable();
    // Keyset position after the page's last order: the next page starts after (created_at, id).
    t.string('last_created_at', 32).nullable();
    t.uuid('last_order_id').nullable();
    t.string('file_name', 64).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['export_id', 'page']);
  });
  // Exports page through orders by (created_at, id).
  await knex.raw('CREATE INDEX IF NOT EXISTS orders_created_at_id ON orders (created_at, id)');
}

/** Drops both tables (the files under EXPORTS_DIR stay). */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('export_pages');
  await knex.schema.dropTableIfExists('exports');
  await knex.raw('DROP INDEX IF EXISTS orders_created_at_id');
}
