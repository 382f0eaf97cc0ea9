import type { Knex } from 'knex';

/**
 * Counts gateway calls per payment idempotency key, shared by every worker: `tok_flaky` fails on the first two
 * attempts of a key, and an approved or declined payment records how many attempts it took.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('payment_attempts', (t) => {
    t.string('idempotency_key', 255).primary();
    t.integer('attempts').notNullable();
    t.timestamps(true, true);
  });
}

/** Drops the attempt counter. */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('payment_attempts');
}
