/**
 * Reconciliation on a Temporal Schedule (issue 15): an operator terminates an order's workflow in each non-terminal
 * status; within two schedule intervals the order's stock is back on the shelf, any capture is refunded and the order
 * is terminal with the reason `workflow_terminated`. The schedule is the real one (temporal-config/reconcile-schedule.ts)
 * with a short interval, started on this suite's task queue, run by the suite's worker.
 */
import type { Activities } from '../../activities';
import { RECONCILE_REASONS } from '../../activities/reconcile';
import { TEST_TOKENS } from '../../activities/payments';
import { checkInvariants } from '../../lib/invariants';
import { ensureReconcileSchedule, RECONCILE_SCHEDULE_ID } from '../../temporal-config/reconcile-schedule';
import { isTerminal, type OrderStatus } from '../../workflows/definitions';
import {
  createSagaHarness,
  orderInput,
  orderRows,
  startOrder,
  stockOf,
  type Hold,
  type SagaHarness,
} from '../support/saga-helpers';
import { insertProducts, uniqueSku } from '../support/services';
import { waitFor } from '../support/wait';

/** The schedule's interval in this suite. */
const INTERVAL_MS = 3_000;
/**
 * Two intervals, plus what one pass takes on a loaded 2-core machine (the reconciliation workflow's tasks and
 * activities, and the schedule's own start latency).
 */
const REPAIRED_WITHIN_MS = 2 * INTERVAL_MS + 6_000;
const INITIAL_STOCK = 10;
const QUANTITY = 2;

let h: SagaHarness;
let scheduleId: string;

beforeAll(async () => {
  h = await createSagaHarness({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '2', PAYMENT_SLOW_MS: '1500' } });
  // One schedule per suite (its own id and task queue), so it never runs another suite's worker code.
  scheduleId = `${RECONCILE_SCHEDULE_ID}-${h.config.temporal.taskQueue}`;
  await ensureReconcileSchedule(h.client, {
    taskQueue: h.config.temporal.taskQueue,
    intervalMs: INTERVAL_MS,
    scheduleId,
  });
});

afterAll(async () => {
  await h.client.schedule.getHandle(scheduleId).delete();
  await h.close();
});

/** How the order is brought to the status the operator terminates it in; returns a hold to release afterwards. */
type Setup = (orderId: string) => { token: string; held?: Hold; afterTerminate: 'release' | 'keep' };

const CASES: [OrderStatus, Setup][] = [
  // The reservation step is held while the workflow is terminated, then runs anyway: stock held by a dead workflow.
  [
    'PENDING',
    (orderId) => ({
      token: TEST_TOKENS.ok,
      held: h.hold(orderId, 'placeOrder' as keyof Activities),
      afterTerminate: 'release',
    }),
  ],
  [
    'RESERVED',
    (orderId) => ({
      token: TEST_TOKENS.ok,
      held: h.hold(orderId, 'chargeOrder' as keyof Activities),
      afterTerminate: 'keep',
    }),
  ],
  // tok_slow: the charge is at the gateway when the workflow dies; it is approved anyway and must be refunded.
  ['CHARGING', () => ({ token: TEST_TOKENS.slow, afterTerminate: 'release' })],
  ['NEEDS_ATTENTION', () => ({ token: TEST_TOKENS.unavailable, afterTerminate: 'release' })],
  [
    'PAID',
    (orderId) => ({
      token: TEST_TOKENS.ok,
      held: h.hold(orderId, 'completeOrder' as keyof Activities),
      afterTerminate: 'keep',
    }),
  ],
];

describe('reconciliation schedule', () => {
  test.each(CASES)(
    'when an order in %s is terminated, then within two intervals its stock is back, any capture refunded and its status terminal',
    async (status, setup) => {
      const sku = uniqueSku(`reconcile-${status}`);
      await insertProducts(h.db, [{ sku, stock: INITIAL_STOCK, priceCents: 1250 }]);
      const probe = orderInput(h.config, [{ sku, quantity: QUANTITY }], TEST_TOKENS.ok);
      const { token, held, afterTerminate } = setup(probe.orderId);
      const input = { ...probe, paymentToken: token };
      const handle = await startOrder(h.client, h.config, input);
      try {
        if (held !== undefined) await held.reached;
        else {
          await waitFor(`order in ${status}`, async () =>
            (await orderRows(h.db, input.orderId)).order?.status === status ? true : undefined,
          );
        }
        if (status !== 'PENDING') expect((await orderRows(h.db, input.orderId)).order?.status).toBe(status);

        await handle.terminate('operator clean-up');
        if (afterTerminate === 'release') held?.release();
        const terminatedAt = Date.now();

        const rows = await waitFor(
          `order ${input.orderId} reconciled`,
          async () => {
            const current = await orderRows(h.db, input.orderId);
            const settled =
              current.order !== undefined &&
              isTerminal(current.order.status as OrderStatus) &&
              !current.reservations.some((r) => r.status === 'held') &&
              !current.payments.some((p) => p.status === 'approved');
            return settled ? current : undefined;
          },
          REPAIRED_WITHIN_MS,
        );
        expect(Date.now() - terminatedAt).toBeLessThanOrEqual(REPAIRED_WITHIN_MS);
        expect(rows.order).toMatchObject({ status: 'CANCELLED', failure_reason: RECONCILE_REASONS.terminated });
        expect(rows.events.at(-1)?.status).toBe('CANCELLED');
        expect(rows.reservations.map((r) => r.status)).toEqual(['released']);
        expect(rows.payments.filter((p) => p.status === 'approved')).toEqual([]);
        expect(await stockOf(h.db, sku)).toBe(INITIAL_STOCK);
        expect(
          await checkInvariants(h.db, { initialStock: new Map([[sku, INITIAL_STOCK]]), orderIds: [input.orderId] }),
        ).toEqual([]);
      } finally {
        held?.release();
      }
    },
    60_000,
  );
});
