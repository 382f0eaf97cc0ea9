import type { Knex } from 'knex';

/**
 * `orders.status_seq`: the seq of the event `orders.status` was last set from. With it, recording a transition is
 * one statement (insert the event; update the order only where `status_seq < seq`), and a late retry of an older
 * event still never moves the status backwards, without locking the order row first. Existing orders take the seq of
 * their newest event.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.integer('status_seq').notNullable().defaultTo(1);
  });
  await knex.raw(`
    UPDATE orders o SET status_seq = e.max_seq
    FROM (SELECT order_id, max(seq) AS max_seq FROM order_events GROUP BY order_id) e
    WHERE e.order_id = o.id`);
}

/** Drops the column; statuses stay as they are. */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.dropColumn('status_seq');
  });
}
