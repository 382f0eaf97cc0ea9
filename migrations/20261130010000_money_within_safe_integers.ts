import type { Knex } from 'knex';

/**
 * Money columns hold at most `Number.MAX_SAFE_INTEGER` cents (lib/money.ts `MAX_CENTS`): every process reads them
 * into JavaScript numbers, which are exact only up to 2^53 - 1. `bigint` alone would accept up to 2^63 - 1, which a
 * reader could only round. Order totals cannot come near the limit (lib/money.ts); the constraints make sure no
 * writer ever stores an amount the readers cannot represent, and a write that would is refused (SQLSTATE 23514,
 * which activities treat as permanent: activities/db-errors.ts).
 */
const MAX_SAFE_INTEGER = '9007199254740991';

/** Adds the range checks of `orders.total_cents` and `payments.amount_cents`. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `ALTER TABLE orders ADD CONSTRAINT orders_total_cents_range CHECK (total_cents BETWEEN 0 AND ${MAX_SAFE_INTEGER})`,
  );
  await knex.raw(
    `ALTER TABLE payments ADD CONSTRAINT payments_amount_cents_range CHECK (amount_cents BETWEEN 0 AND ${MAX_SAFE_INTEGER})`,
  );
}

/** Drops both checks. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE payments DROP CONSTRAINT payments_amount_cents_range');
  await knex.raw('ALTER TABLE orders DROP CONSTRAINT orders_total_cents_range');
}
