import type { Knex } from 'knex';

/**
 * A closed order stays closed: once an order's status is terminal (COMPLETED, CANCELLED, FAILED, REJECTED) nothing
 * moves it to CHARGING, PAID or NEEDS_ATTENTION; the `orders` update that would is refused with SQLSTATE OF003
 * (`order_closed`), so the event that goes with it is not recorded either (`orderflow_append_event` writes both in
 * one statement sequence). A placement may still reopen it (PENDING, RESERVED, REJECTED): that is a Reset to the first
 * workflow task, the operator's retry. Terminal to terminal (a Reset run recording its end again) is allowed.
 *
 * Why: after a Reset, the replaced run's charge may still be running in a worker (Temporal rejects its completion,
 * not its side effects), and a run reset past its placement does not place the order again. Both could charge an
 * order another run or the reconciler had already cancelled and released: PAID recorded after CANCELLED, money
 * captured until the reconciler refunded it, or NEEDS_ATTENTION recorded after CANCELLED (found by resetting a
 * tok_slow order and cancelling it while the old run's charge was at the gateway). The activities answer OF003:
 * the charge charges nothing, or refunds a capture at once, and NEEDS_ATTENTION is not recorded
 * (activities/saga-steps.ts). A retried step whose event was recorded already writes nothing, so it is not refused.
 */

/** Adds the trigger. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION orderflow_refuse_reopening() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      RAISE EXCEPTION 'order % is % and stays closed (refused: %)', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'OF003';
    END
    $fn$`);
  await knex.raw(`
    CREATE TRIGGER orders_closed_stay_closed BEFORE UPDATE OF status ON orders FOR EACH ROW
      WHEN (OLD.status IN ('COMPLETED', 'CANCELLED', 'FAILED', 'REJECTED')
        AND NEW.status IN ('CHARGING', 'PAID', 'NEEDS_ATTENTION'))
      EXECUTE FUNCTION orderflow_refuse_reopening()`);
}

/** Drops the trigger. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER IF EXISTS orders_closed_stay_closed ON orders');
  await knex.raw('DROP FUNCTION IF EXISTS orderflow_refuse_reopening()');
}
