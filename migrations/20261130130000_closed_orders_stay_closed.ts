import type { Knex } from 'knex';

/**
 * A closed order stays closed: no run charges it and no charge records PAID on it. An order is closed once its status
 * is terminal (COMPLETED, CANCELLED, FAILED, REJECTED).
 *
 * Why: after a Reset, the replaced run's charge may still be running in a worker (Temporal rejects its completion,
 * not its side effects), and a run reset to a point after its placement does not place the order again. Before this
 * migration both could charge an order that another run (or the reconciler) had already cancelled and released:
 * PAID recorded after CANCELLED, and money captured until the reconciler refunded it (found by resetting a tok_slow
 * order and cancelling it while the old run's charge was at the gateway).
 *
 * - `orderflow_start_charge`: also returns no rows, so nothing is charged (as for a cancel marked for this run),
 *   when the order is closed and this step has not recorded its CHARGING yet. A retry of a step that did start goes on
 *   as before, so the gateway's idempotency answers it.
 * - `orderflow_record_paid`: returns no rows, recording nothing, when the order is closed and this step has not
 *   recorded its PAID yet. The activity then refunds the capture at once (activities/saga-steps.ts `chargeOrder`).
 *
 * Same signatures; `down` restores the previous bodies.
 */

/** The terminal statuses, as SQL. */
const CLOSED = "ARRAY['COMPLETED', 'CANCELLED', 'FAILED', 'REJECTED']";

/** True (SQL) when the order is closed and this step's event key `key` is not recorded yet. */
const closedAndNew = (key: string): string => `
      EXISTS (SELECT 1 FROM orders o WHERE o.id = p_order AND o.status = ANY (${CLOSED}))
      AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = p_order AND e.event_key = ${key})`;

function startCharge(guard: boolean): string {
  return `
    CREATE OR REPLACE FUNCTION orderflow_start_charge(
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
      IF v_mark = p_run_id ${guard ? `OR (${closedAndNew('p_key')})` : ''} THEN
        RETURN;
      END IF;
      SELECT count(*) INTO v_settled FROM payments pay
       WHERE pay.order_id = p_order AND pay.status = ANY (p_settled_statuses);
      RETURN QUERY SELECT e.*, v_settled
        FROM orderflow_append_event(p_order, p_key, 'CHARGING', p_detail, NULL, NULL) e;
    END
    $fn$`;
}

function recordPaid(guard: boolean): string {
  return `
    CREATE OR REPLACE FUNCTION orderflow_record_paid(
      p_order uuid, p_run_id text, p_paid_key text, p_paid_detail jsonb, p_completed_key text
    ) RETURNS TABLE (seq integer, status text, detail jsonb, created_at timestamptz, customer_id text, inserted boolean)
    LANGUAGE plpgsql AS $fn$
    #variable_conflict use_column
    DECLARE
      v_mark text;
    BEGIN
      v_mark := orderflow_lock_order(p_order);
      ${guard ? `IF ${closedAndNew('p_paid_key')} THEN\n        RETURN;\n      END IF;` : ''}
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
    $fn$`;
}

/** Adds the closed-order guard to the charge's two transactions. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(startCharge(true));
  await knex.raw(recordPaid(true));
}

/** The charge's transactions without the guard, as migration 20261130120000 wrote them. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(startCharge(false));
  await knex.raw(recordPaid(false));
}
