import type { Knex } from 'knex';

/**
 * Reset-safe order events (docs/saga.md, "Reset and Terminate").
 *
 * - `order_events.event_key`: the idempotency key of a recording (`<runId>/<step>/<STATUS>`, chosen by the workflow).
 *   A retried activity finds its event by key and writes nothing new; a Reset run records under its own run id, so its
 *   statuses are never mistaken for the earlier run's and dropped. Older events keep NULL.
 * - `orderflow_append_event(...)`: records one status in one round trip under the order row lock. The seq is allocated
 *   here (`orders.status_seq + 1`), so every recorded status gets a seq above every earlier one and becomes the order's
 *   status: the row and its newest event always agree.
 * - `orders.cancel_requested_run_id`: the workflow run for which a cancel was accepted (by the API, or by the
 *   workflow for a signal typed in the UI or CLI). That run's charge activity reads it under the same row lock and
 *   charges nothing once it is set, so a cancel that lands before the charge starts means no charge. A Reset run is
 *   another run: it sees only the cancels it gets itself (re-applied signals included).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('order_events', (t) => {
    t.text('event_key').nullable();
  });
  await knex.raw(
    'CREATE UNIQUE INDEX order_events_event_key ON order_events (order_id, event_key) WHERE event_key IS NOT NULL',
  );
  await knex.schema.alterTable('orders', (t) => {
    t.text('cancel_requested_run_id').nullable();
  });
  await knex.raw(`
    CREATE FUNCTION orderflow_append_event(
      p_order uuid, p_key text, p_status text, p_detail jsonb, p_total bigint, p_failure_reason text
    ) RETURNS TABLE (seq integer, status text, detail jsonb, created_at timestamptz, customer_id text, inserted boolean)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_seq integer;
      v_customer text;
    BEGIN
      SELECT o.status_seq, o.customer_id INTO v_seq, v_customer FROM orders o WHERE o.id = p_order FOR NO KEY UPDATE;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'order % has not been recorded', p_order USING ERRCODE = 'no_data_found';
      END IF;
      RETURN QUERY SELECT e.seq, e.status::text, e.detail, e.created_at, v_customer::text, false
        FROM order_events e WHERE e.order_id = p_order AND e.event_key = p_key;
      IF FOUND THEN
        RETURN;
      END IF;
      UPDATE orders o SET status = p_status, status_seq = v_seq + 1, updated_at = now(),
             total_cents = COALESCE(p_total, o.total_cents), failure_reason = COALESCE(p_failure_reason, o.failure_reason)
       WHERE o.id = p_order;
      RETURN QUERY INSERT INTO order_events AS e (order_id, seq, status, detail, event_key)
        VALUES (p_order, v_seq + 1, p_status, p_detail, p_key)
        RETURNING e.seq, e.status::text, e.detail, e.created_at, v_customer::text, true;
    END
    $fn$`);
}

/** Drops the function, the key and the cancel mark; events keep their seqs. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_append_event(uuid, text, text, jsonb, bigint, text)');
  await knex.schema.alterTable('orders', (t) => {
    t.dropColumn('cancel_requested_run_id');
  });
  await knex.raw('DROP INDEX IF EXISTS order_events_event_key');
  await knex.schema.alterTable('order_events', (t) => {
    t.dropColumn('event_key');
  });
}
