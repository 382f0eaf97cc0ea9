/**
 * Reconciliation on a Temporal Schedule (issue 15): an operator terminates an order's workflow in each non-terminal
 * status; within two schedule intervals the order's stock is back on the shelf, any capture is refunded and the order
 * is terminal with the reason `workflow_terminated`. The schedule is the real one (temporal-config/reconcile-schedule.ts)
 * with a short interval, started on this suite's task queue, run by the suite's worker.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { resetRun } from '../../chaos/reset-sweep';
import { createReconcileActivities, RECONCILE_REASONS, type ReconcileCandidate } from '../../activities/reconcile';
import { createLogger } from '../../lib/logger';
import { TEST_TOKENS } from '../../activities/payments';
import { checkInvariants } from '../../lib/invariants';
import { requestHashOf } from '../../lib/order-lines';
import {
  ensureReconcileSchedule,
  RECONCILE_SCHEDULE_ID,
  RECONCILE_WORKFLOW_TYPE,
} from '../../temporal-config/reconcile-schedule';
import { cancelSignal, isTerminal, SEARCH_ATTRIBUTES, type OrderStatus } from '../../workflows/definitions';
import {
  createSagaHarness,
  orderInput,
  orderRows,
  startOrder,
  stockOf,
  testActivities,
  type Hold,
  type SagaHarness,
} from '../support/saga-helpers';
import { insertProducts, privateDatabase, uniqueSku, type PrivateDatabase } from '../support/services';
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

/**
 * The reconciler scans every unsettled order of its database. The suites share one test database, and activity-level
 * suites leave orders that never had a workflow (to the reconciler: closed long ago), so this suite gets a database
 * of its own: what a pass finds and how long it takes is then this suite's alone.
 */
let own: PrivateDatabase;

beforeAll(async () => {
  own = await privateDatabase('reconcile');
  h = await createSagaHarness({
    env: { DATABASE_URL: own.url, PAYMENT_RETRY_MAX_ATTEMPTS: '2', PAYMENT_SLOW_MS: '1500' },
  });
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
  await own?.drop();
});

/** How the order is brought to the status the operator terminates it in (`held` is released afterwards, or kept). */
type Setup = (orderId: string) => {
  token: string;
  held?: Hold;
  afterTerminate: 'release' | 'keep';
  /** Send a `cancel` signal once the order row reaches this status. */
  cancelAt?: OrderStatus;
};

const CASES: [OrderStatus, Setup][] = [
  // The reservation step is held while the workflow is terminated, then runs anyway: stock held by a dead workflow.
  [
    'PENDING',
    (orderId) => ({
      token: TEST_TOKENS.ok,
      held: h.hold(orderId, 'placeOrder'),
      afterTerminate: 'release',
    }),
  ],
  [
    'RESERVED',
    (orderId) => ({
      token: TEST_TOKENS.ok,
      held: h.hold(orderId, 'chargeOrder'),
      afterTerminate: 'keep',
    }),
  ],
  // tok_unavailable: CHARGING is recorded, the gateway fails, and the workflow dies before the retry (1 s later) — the
  // order is left CHARGING with its stock held. (A charge still at the gateway when the workflow dies and then
  // approved completes the order itself: saga.test.ts.)
  ['CHARGING', () => ({ token: TEST_TOKENS.unavailable, afterTerminate: 'release' })],
  ['NEEDS_ATTENTION', () => ({ token: TEST_TOKENS.unavailable, afterTerminate: 'release' })],
  // A cancel reached the slow charge: PAID without the commit, and the workflow dies before its refund.
  [
    'PAID',
    (orderId) => ({
      token: TEST_TOKENS.slow,
      held: h.hold(orderId, 'compensateOrder'),
      afterTerminate: 'keep',
      cancelAt: 'CHARGING',
    }),
  ],
];

describe('reconciliation schedule', () => {
  test('when the set-up runs again with another interval, then the one schedule is updated, not duplicated', async () => {
    const id = `${scheduleId}-setup`;
    const taskQueue = h.config.temporal.taskQueue;
    try {
      expect(await ensureReconcileSchedule(h.client, { taskQueue, intervalMs: 60_000, scheduleId: id })).toBe(
        'created',
      );
      expect(await ensureReconcileSchedule(h.client, { taskQueue, intervalMs: 120_000, scheduleId: id })).toBe(
        'updated',
      );

      const described = await h.client.schedule.getHandle(id).describe();
      expect(described.spec.intervals).toMatchObject([{ every: 120_000 }]);
      expect(described.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: RECONCILE_WORKFLOW_TYPE,
        taskQueue,
      });
    } finally {
      await h.client.schedule.getHandle(id).delete();
    }
  });

  test.each(CASES)(
    'when an order in %s is terminated, then within two intervals its stock is back, any capture refunded and its status terminal',
    async (status, setup) => {
      const sku = uniqueSku(`reconcile-${status}`);
      await insertProducts(h.db, [{ sku, stock: INITIAL_STOCK, priceCents: 1250 }]);
      const probe = orderInput(h.config, [{ sku, quantity: QUANTITY }], TEST_TOKENS.ok);
      const { token, held, afterTerminate, cancelAt } = setup(probe.orderId);
      // The order's own request hash goes with its token (the placement checks it).
      const input = {
        ...probe,
        paymentToken: token,
        requestHash: requestHashOf({ lines: probe.lines, paymentToken: token }),
      };
      const handle = await startOrder(h.client, h.config, input);
      try {
        if (cancelAt !== undefined) {
          await waitFor(`order in ${cancelAt}`, async () =>
            (await orderRows(h.db, input.orderId)).order?.status === cancelAt ? true : undefined,
          );
          await handle.signal(cancelSignal, { reason: 'customer' });
        }
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
              isTerminal(current.order.status) &&
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

/** Pauses this suite's schedule and waits until no pass runs, so a test decides when orders get reconciled. */
async function pauseSchedule(why: string) {
  const schedule = h.client.schedule.getHandle(scheduleId);
  await schedule.pause(why);
  await waitFor('no reconciliation pass running', async () =>
    (await schedule.describe()).info.runningActions.length === 0 ? true : undefined,
  );
  return schedule;
}

describe('a repair that fails for good', () => {
  test('when one order cannot be repaired, then the pass still repairs the others and reports that one as failed', async () => {
    const schedule = await pauseSchedule('reconcile failure test');
    const [broken, sound] = [uniqueSku('reconcile-broken'), uniqueSku('reconcile-sound')];
    await insertProducts(h.db, [
      { sku: broken, stock: INITIAL_STOCK, priceCents: 1250 },
      { sku: sound, stock: INITIAL_STOCK, priceCents: 1250 },
    ]);
    const place = async (sku: string) => {
      const input = orderInput(h.config, [{ sku, quantity: QUANTITY }], TEST_TOKENS.unavailable);
      const handle = await startOrder(h.client, h.config, input);
      await waitFor('NEEDS_ATTENTION', async () =>
        (await orderRows(h.db, input.orderId)).order?.status === 'NEEDS_ATTENTION' ? true : undefined,
      );
      await handle.terminate('operator clean-up');
      return input.orderId;
    };
    const [brokenOrder, soundOrder] = [await place(broken), await place(sound)];
    // Stock written past the API's limit (by hand, or before the limit existed): releasing the held units overflows
    // the integer column, a data exception no retry fixes.
    const restore = INITIAL_STOCK - QUANTITY;
    await h.db('products').where({ sku: broken }).update({ stock: 2_147_483_647 });
    try {
      const result = await h.client.workflow.execute(RECONCILE_WORKFLOW_TYPE, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: `reconcile-failure-${brokenOrder}`,
      });

      expect(result.repaired).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ orderId: brokenOrder, outcome: 'failed', status: 'NEEDS_ATTENTION' }),
          expect.objectContaining({ orderId: soundOrder, outcome: 'compensated', status: 'CANCELLED' }),
        ]),
      );
      expect((await orderRows(h.db, soundOrder)).order?.status).toBe('CANCELLED');
      expect(await stockOf(h.db, sound)).toBe(INITIAL_STOCK);
      expect((await orderRows(h.db, brokenOrder)).order?.status).toBe('NEEDS_ATTENTION');
    } finally {
      // Back to what the ledger says, so the next pass settles it.
      await h.db('products').where({ sku: broken }).update({ stock: restore });
      await schedule.unpause();
    }
    await waitFor(
      `order ${brokenOrder} settled on a later pass`,
      async () => ((await orderRows(h.db, brokenOrder)).order?.status === 'CANCELLED' ? true : undefined),
      REPAIRED_WITHIN_MS,
    );
    expect(await stockOf(h.db, broken)).toBe(INITIAL_STOCK);
  });
});

describe('a Reset during a pass', () => {
  test('when a Reset run places the order after the scan saw its workflow closed, then the pass leaves the order to that run', async () => {
    const schedule = await pauseSchedule('reconcile vs reset test');
    try {
      const sku = uniqueSku('reconcile-reset');
      await insertProducts(h.db, [{ sku, stock: INITIAL_STOCK, priceCents: 1250 }]);
      const input = orderInput(h.config, [{ sku, quantity: QUANTITY }], TEST_TOKENS.unavailable);
      const handle = await startOrder(h.client, h.config, input);
      const statusIs = (status: OrderStatus) => async () =>
        (await orderRows(h.db, input.orderId)).order?.status === status ? true : undefined;
      await waitFor('NEEDS_ATTENTION', statusIs('NEEDS_ATTENTION'));
      const { events: before } = await orderRows(h.db, input.orderId);
      await handle.terminate('operator clean-up');
      const terminated = (await handle.describe()).runId;

      // The pass scans and describes the terminated run; its repair of this order waits here.
      const repair = h.hold(input.orderId, 'compensateOrder');
      const pass = h.client.workflow.execute(RECONCILE_WORKFLOW_TYPE, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: `reconcile-reset-${input.orderId}`,
      });
      await repair.reached;
      // Meanwhile an operator resets the terminated run to its first workflow task: the new run places it again.
      const runId = await resetRun(
        h.client,
        { workflowId: handle.workflowId, runId: terminated },
        { reason: 'ops: retry' },
      );
      await waitFor('the Reset run to record', async () =>
        (await orderRows(h.db, input.orderId)).events.length > before.length ? true : undefined,
      );
      repair.release();

      const result = await pass;
      expect(result.repaired).toEqual(
        expect.arrayContaining([expect.objectContaining({ orderId: input.orderId, outcome: 'skipped' })]),
      );
      // The order is the new run's: it charges again and waits in NEEDS_ATTENTION, running.
      await waitFor('NEEDS_ATTENTION again', statusIs('NEEDS_ATTENTION'));
      const reset = h.client.workflow.getHandle(handle.workflowId, runId);
      expect((await reset.describe()).status.name).toBe('RUNNING');
      const { events } = await orderRows(h.db, input.orderId);
      expect(events.map((event) => event.status)).not.toContain('CANCELLED');
      await reset.signal(cancelSignal, { reason: 'test clean-up' });
      await waitFor('CANCELLED', statusIs('CANCELLED'));
      expect(
        await checkInvariants(h.db, { initialStock: new Map([[sku, INITIAL_STOCK]]), orderIds: [input.orderId] }),
      ).toEqual([]);
    } finally {
      await schedule.unpause();
    }
  });
});

describe('the reconciliation scan', () => {
  test('when closed orders sit behind more running orders than a page holds, then the scan still finds them', async () => {
    // This suite's schedule would settle the terminated order first.
    const schedule = await pauseSchedule('reconcile scan test');
    const sku = uniqueSku('reconcile-scan');
    await insertProducts(h.db, [{ sku, stock: INITIAL_STOCK, priceCents: 1250 }]);
    const place = async () => {
      const input = orderInput(h.config, [{ sku, quantity: 1 }], TEST_TOKENS.unavailable);
      const handle = await startOrder(h.client, h.config, input);
      await waitFor('NEEDS_ATTENTION', async () =>
        (await orderRows(h.db, input.orderId)).order?.status === 'NEEDS_ATTENTION' ? true : undefined,
      );
      return { orderId: input.orderId, handle };
    };
    const running = [await place(), await place(), await place()];
    const closed = await place();
    try {
      await closed.handle.terminate('operator clean-up');
      // One order per page: the running orders fill the first pages, the closed one comes after them.
      const scan = createReconcileActivities({
        db: h.db,
        temporal: h.client,
        logger: createLogger('reconcile', 'silent'),
        pageSize: 1,
      });
      const found: ReconcileCandidate[] = await new MockActivityEnvironment().run(scan.findOrdersToReconcile);

      const ours = found.filter((c) => [closed, ...running].some((o) => o.orderId === c.orderId));
      expect(ours).toMatchObject([
        {
          orderId: closed.orderId,
          rowStatus: 'NEEDS_ATTENTION',
          status: 'CANCELLED',
          reason: RECONCILE_REASONS.terminated,
        },
      ]);
    } finally {
      for (const order of running) await order.handle.signal(cancelSignal, { reason: 'reconcile scan test' });
      await schedule.unpause();
      await waitFor(
        `order ${closed.orderId} settled`,
        async () => ((await orderRows(h.db, closed.orderId)).order?.status === 'CANCELLED' ? true : undefined),
        REPAIRED_WITHIN_MS,
      );
    }
  });
});

describe('a run waiting in NEEDS_ATTENTION on an order another run closed', () => {
  test.each(['CANCELLED', 'FAILED'] as const)(
    'when the order is closed %s meanwhile, then a pass wakes the run and it ends with that status, recording nothing',
    async (closedAs) => {
      const sku = uniqueSku(`reconcile-stale-${closedAs}`);
      await insertProducts(h.db, [{ sku, stock: INITIAL_STOCK, priceCents: 1250 }]);
      const input = orderInput(h.config, [{ sku, quantity: QUANTITY }], TEST_TOKENS.unavailable);
      const handle = await startOrder(h.client, h.config, input);
      await waitFor('order in NEEDS_ATTENTION', async () =>
        (await orderRows(h.db, input.orderId)).order?.status === 'NEEDS_ATTENTION' ? true : undefined,
      );
      // What a run reset past its NEEDS_ATTENTION meets: another run (the one the Reset replaced, or an operator's
      // retry in it) has closed the order since, while this run waits for an operator who can do nothing.
      await testActivities(h.config, h.db, h.redis).compensateOrder({
        orderId: input.orderId,
        eventKeyPrefix: 'another-run/9',
        status: closedAs,
        reason: 'closed by another run',
      });
      const closed = await orderRows(h.db, input.orderId);

      await waitFor(
        'the waiting run to end',
        async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined),
        REPAIRED_WITHIN_MS,
      );
      await expect(handle.result()).resolves.toEqual({ orderId: input.orderId, status: closedAs });
      expect((await handle.describe()).typedSearchAttributes.get(SEARCH_ATTRIBUTES.orderStatus)).toBe(closedAs);
      const rows = await orderRows(h.db, input.orderId);
      expect(rows.order?.status).toBe(closedAs);
      expect(rows.events).toEqual(closed.events);
      expect(rows.payments).toEqual([]);
      expect(
        await checkInvariants(h.db, { initialStock: new Map([[sku, INITIAL_STOCK]]), orderIds: [input.orderId] }),
      ).toEqual([]);
    },
    60_000,
  );
});
