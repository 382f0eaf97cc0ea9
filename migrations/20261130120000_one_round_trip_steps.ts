import type { Knex } from 'knex';

/**
 * The saga's database steps as SQL functions, so each step's transaction is one round trip (docs/saga.md, "Cost of
 * an order"). The rules they apply were JavaScript before; they now live here once, and the activities call them
 * (activities/saga-steps.ts, activities/inventory.ts):
 *
 * - `orderflow_reserve(order, skus, quantities, fixed_prices)`: locks the request's products in ascending id order
 *   (the global lock order, so orders sharing SKUs queue instead of deadlocking) and decides: REJECTED
 *   (`unknown_sku`, then `product_unavailable`, then `insufficient_stock`, each naming the SKUs) or RESERVED, in
 *   which case it writes the held reservation, the priced items, the stock decrement and the `reserve` movements.
 *   Returns `{outcome, stocks}`: the outcome as the `reservation` update answers it, and each reserved product's
 *   stock after the decrement (for the live `product.stock` events, with no read after commit). Raises SQLSTATE
 *   OF001 when reservation rows of the order already exist (a concurrent duplicate reserved first).
 * - `orderflow_commit_stock(order)`: held lines -> committed, with `commit` movements; returns how many.
 * - `orderflow_place_order(...)`: the first workflow task's transaction: order row, PENDING, the reservation, and
 *   RESERVED or REJECTED. Returns no rows when the order row already exists (a retry or a Reset run: the activity
 *   then reconciles with what is stored); else the recorded events, then one row whose `outcome` is
 *   `orderflow_reserve`'s result.
 * - `orderflow_lock_order(order)`: locks the order row (FOR NO KEY UPDATE) and returns its cancel mark; raises
 *   `no_data_found` for an unknown order.
 * - `orderflow_start_charge(order, run, key, detail, settled_statuses)`: no rows when a cancel is marked for this
 *   run; else records CHARGING and says how many of the order's charges are settled (refunded or declined), which
 *   picks the charge's idempotency key.
 * - `orderflow_record_paid(order, run, paid_key, paid_detail, completed_key)`: records PAID; with a
 *   `completed_key`, and unless a cancel is marked for this run, also commits the held stock and records COMPLETED in
 *   the same transaction (nothing is committed when the order holds no stock: the saga's `completeOrder` then says
 *   why). Returns the events it recorded, oldest first.
 * - `orderflow_complete_order(order, key)`: commits the held stock and records COMPLETED; raises SQLSTATE OF002
 *   when the order holds no stock, held or committed (its reservation was lost).
 *
 * Statuses are recorded by `orderflow_append_event` (migration 20261130000000), so seqs and keys work as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION orderflow_reserve(p_order uuid, p_skus text[], p_quantities integer[], p_fixed_prices jsonb)
    RETURNS jsonb LANGUAGE plpgsql AS $fn$
    DECLARE
      v_rejected jsonb;
      v_inserted integer;
      v_lines jsonb;
      v_total bigint;
      v_stocks jsonb;
    BEGIN
      PERFORM 1 FROM products p WHERE p.sku = ANY (p_skus) ORDER BY p.id FOR UPDATE;

      SELECT jsonb_agg(r.sku ORDER BY r.n) INTO v_rejected
        FROM unnest(p_skus) WITH ORDINALITY AS r (sku, n)
       WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = r.sku);
      IF v_rejected IS NOT NULL THEN
        RETURN jsonb_build_object('outcome',
          jsonb_build_object('status', 'REJECTED', 'reason', 'unknown_sku', 'unknownSkus', v_rejected));
      END IF;

      -- The API refuses drafts and archived products up front; one unpublished since is refused here, under the lock.
      SELECT jsonb_agg(p.sku ORDER BY p.id) INTO v_rejected
        FROM products p WHERE p.sku = ANY (p_skus) AND p.status <> 'published';
      IF v_rejected IS NOT NULL THEN
        RETURN jsonb_build_object('outcome',
          jsonb_build_object('status', 'REJECTED', 'reason', 'product_unavailable', 'unavailableSkus', v_rejected));
      END IF;

      SELECT jsonb_agg(jsonb_build_object('sku', r.sku, 'requested', r.quantity, 'available', p.stock) ORDER BY r.n)
        INTO v_rejected
        FROM unnest(p_skus, p_quantities) WITH ORDINALITY AS r (sku, quantity, n)
        JOIN products p ON p.sku = r.sku
       WHERE p.stock < r.quantity;
      IF v_rejected IS NOT NULL THEN
        RETURN jsonb_build_object('outcome',
          jsonb_build_object('status', 'REJECTED', 'reason', 'insufficient_stock', 'shortages', v_rejected));
      END IF;

      WITH req AS (
        SELECT r.n, p.id AS product_id, r.sku, r.quantity,
               COALESCE((p_fixed_prices ->> r.sku)::integer, p.price_cents) AS unit_price_cents
          FROM unnest(p_skus, p_quantities) WITH ORDINALITY AS r (sku, quantity, n)
          JOIN products p ON p.sku = r.sku
      ), res AS (
        INSERT INTO stock_reservations (order_id, product_id, quantity, status)
        SELECT p_order, req.product_id, req.quantity, 'held' FROM req
        ON CONFLICT (order_id, product_id) DO NOTHING
        RETURNING product_id, quantity
      ), dec AS (
        UPDATE products p SET stock = p.stock - res.quantity, updated_at = now()
          FROM res WHERE p.id = res.product_id
        RETURNING p.id, p.sku, p.stock, p.low_stock_threshold
      ), items AS (
        INSERT INTO order_items (order_id, product_id, sku, quantity, unit_price_cents)
        SELECT p_order, req.product_id, req.sku, req.quantity, req.unit_price_cents FROM req JOIN res USING (product_id)
      ), moved AS (
        INSERT INTO inventory_movements (product_id, kind, quantity, order_id)
        SELECT res.product_id, 'reserve', -res.quantity, p_order FROM res
      )
      SELECT (SELECT count(*) FROM res),
             (SELECT jsonb_agg(jsonb_build_object('sku', req.sku, 'quantity', req.quantity,
                                                  'productId', req.product_id, 'unitPriceCents', req.unit_price_cents)
                               ORDER BY req.n) FROM req),
             (SELECT sum(req.quantity::bigint * req.unit_price_cents) FROM req),
             (SELECT jsonb_agg(jsonb_build_object('productId', dec.id, 'sku', dec.sku, 'stock', dec.stock,
                                                  'lowStockThreshold', dec.low_stock_threshold)) FROM dec)
        INTO v_inserted, v_lines, v_total, v_stocks;
      IF v_inserted <> cardinality(p_skus) THEN
        RAISE EXCEPTION 'order % already holds a reservation', p_order USING ERRCODE = 'OF001';
      END IF;
      RETURN jsonb_build_object('outcome',
               jsonb_build_object('status', 'RESERVED', 'totalCents', v_total, 'lines', v_lines),
             'stocks', v_stocks);
    END
    $fn$`);

  await knex.raw(`
    CREATE FUNCTION orderflow_commit_stock(p_order uuid) RETURNS integer LANGUAGE sql AS $fn$
      WITH c AS (
        UPDATE stock_reservations SET status = 'committed', updated_at = now()
         WHERE order_id = p_order AND status = 'held'
        RETURNING product_id
      ), moved AS (
        INSERT INTO inventory_movements (product_id, kind, quantity, order_id)
        SELECT c.product_id, 'commit', 0, p_order FROM c
      )
      SELECT count(*)::integer FROM c
    $fn$`);

  await knex.raw(`
    CREATE FUNCTION orderflow_place_order(
      p_order uuid, p_customer text, p_currency text, p_idempotency_key text, p_request_hash text,
      p_workflow_id text, p_key_prefix text, p_pending_detail jsonb, p_skus text[], p_quantities integer[]
    ) RETURNS TABLE (
      seq integer, status text, detail jsonb, created_at timestamptz, customer_id text, inserted boolean,
      outcome jsonb
    ) LANGUAGE plpgsql AS $fn$
    #variable_conflict use_column
    DECLARE
      v_result jsonb;
      v_outcome jsonb;
    BEGIN
      INSERT INTO orders (id, customer_id, status, status_seq, total_cents, currency, idempotency_key,
                          request_hash, workflow_id)
      VALUES (p_order, p_customer, 'PENDING', 0, 0, p_currency, p_idempotency_key, p_request_hash, p_workflow_id)
      ON CONFLICT DO NOTHING;
      IF NOT FOUND THEN
        RETURN;
      END IF;
      RETURN QUERY SELECT e.*, NULL::jsonb
        FROM orderflow_append_event(p_order, p_key_prefix || '/PENDING', 'PENDING', p_pending_detail, NULL, NULL) e;
      v_result := orderflow_reserve(p_order, p_skus, p_quantities, NULL);
      v_outcome := v_result -> 'outcome';
      IF v_outcome ->> 'status' = 'REJECTED' THEN
        RETURN QUERY SELECT e.*, NULL::jsonb
          FROM orderflow_append_event(p_order, p_key_prefix || '/REJECTED', 'REJECTED', v_outcome, NULL,
                                      v_outcome ->> 'reason') e;
      ELSE
        RETURN QUERY SELECT e.*, NULL::jsonb
          FROM orderflow_append_event(p_order, p_key_prefix || '/RESERVED', 'RESERVED',
                 jsonb_build_object('totalCents', v_outcome -> 'totalCents', 'lines', v_outcome -> 'lines'),
                 (v_outcome ->> 'totalCents')::bigint, NULL) e;
      END IF;
      RETURN QUERY SELECT NULL::integer, NULL::text, NULL::jsonb, NULL::timestamptz, NULL::text, NULL::boolean,
                          v_result;
    END
    $fn$`);

  await knex.raw(`
    CREATE FUNCTION orderflow_lock_order(p_order uuid) RETURNS text LANGUAGE plpgsql AS $fn$
    DECLARE
      v_mark text;
    BEGIN
      SELECT o.cancel_requested_run_id INTO v_mark FROM orders o WHERE o.id = p_order FOR NO KEY UPDATE;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'order % has not been recorded', p_order USING ERRCODE = 'no_data_found';
      END IF;
      RETURN v_mark;
    END
    $fn$`);

  await knex.raw(`
    CREATE FUNCTION orderflow_start_charge(
      p_order uuid, p_run_id text, p_key text, p_detail jsonb, p_settled_statuses text[]
    ) RETURNS TABLE (
      seq integer, status text, detail jsonb, created_at timestamptz, customer_id text, inserted boolean,
      settled_charges integer
    ) LANGUAGE plpgsql AS $fn$
    #variable_conflict use_column
    DECLARE
      v_mark text;
      v_settled integer;
    BEGIN
      v_mark := orderflow_lock_order(p_order);
      IF v_mark = p_run_id THEN
        RETURN;
      END IF;
      SELECT count(*) INTO v_settled FROM payments pay
       WHERE pay.order_id = p_order AND pay.status = ANY (p_settled_statuses);
      RETURN QUERY SELECT e.*, v_settled
        FROM orderflow_append_event(p_order, p_key, 'CHARGING', p_detail, NULL, NULL) e;
    END
    $fn$`);

  await knex.raw(`
    CREATE FUNCTION orderflow_record_paid(
      p_order uuid, p_run_id text, p_paid_key text, p_paid_detail jsonb, p_completed_key text
    ) RETURNS TABLE (seq integer, status text, detail jsonb, created_at timestamptz, customer_id text, inserted boolean)
    LANGUAGE plpgsql AS $fn$
    #variable_conflict use_column
    DECLARE
      v_mark text;
    BEGIN
      v_mark := orderflow_lock_order(p_order);
      RETURN QUERY SELECT * FROM orderflow_append_event(p_order, p_paid_key, 'PAID', p_paid_detail, NULL, NULL);
      IF p_completed_key IS NULL OR v_mark IS NOT DISTINCT FROM p_run_id THEN
        RETURN;
      END IF;
      IF orderflow_commit_stock(p_order) > 0 OR EXISTS (
        SELECT 1 FROM stock_reservations r WHERE r.order_id = p_order AND r.status = 'committed'
      ) THEN
        RETURN QUERY SELECT * FROM orderflow_append_event(p_order, p_completed_key, 'COMPLETED', '{}'::jsonb, NULL, NULL);
      END IF;
    END
    $fn$`);

  await knex.raw(`
    CREATE FUNCTION orderflow_complete_order(p_order uuid, p_key text)
    RETURNS TABLE (seq integer, status text, detail jsonb, created_at timestamptz, customer_id text, inserted boolean)
    LANGUAGE plpgsql AS $fn$
    #variable_conflict use_column
    BEGIN
      PERFORM orderflow_lock_order(p_order);
      IF orderflow_commit_stock(p_order) = 0 AND NOT EXISTS (
        SELECT 1 FROM stock_reservations r WHERE r.order_id = p_order AND r.status = 'committed'
      ) THEN
        RAISE EXCEPTION 'order % holds no stock to commit', p_order USING ERRCODE = 'OF002';
      END IF;
      RETURN QUERY SELECT * FROM orderflow_append_event(p_order, p_key, 'COMPLETED', '{}'::jsonb, NULL, NULL);
    END
    $fn$`);
}

/** Drops the functions (the activities of the previous revision do not use them). */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_complete_order(uuid, text)');
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_record_paid(uuid, text, text, jsonb, text)');
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_start_charge(uuid, text, text, jsonb, text[])');
  await knex.raw(
    'DROP FUNCTION IF EXISTS orderflow_place_order(uuid, text, text, text, text, text, text, jsonb, text[], integer[])',
  );
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_lock_order(uuid)');
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_commit_stock(uuid)');
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_reserve(uuid, text[], integer[], jsonb)');
}
