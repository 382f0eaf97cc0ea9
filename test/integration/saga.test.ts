/**
 * The order saga end to end on the real services: a Temporal dev server, PostgreSQL and Redis, with the real
 * activities in an in-process worker. Every test asserts what a user or operator would check: the workflow result,
 * the `status` query, the rows (stock, reservations, payments, order_events) and the search attributes.
 */
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { OUTAGE_SWITCH, setGatewaySwitch } from '../../activities/payments';
import { WAIT_GIVEN_UP, WAIT_STARTED } from '../../activities/saga-steps';
import { startOrder as apiStartOrder } from '../../lib/order-workflow';
import { MAX_REASON_LENGTH } from '../../lib/storable-text';
import { checkInvariants } from '../../lib/invariants';
import {
  ATTENTION_TIMEOUT_REASON,
  cancelSignal,
  paymentIdempotencyKey,
  REQUEST_MISMATCH_FAILURE,
  reservationUpdate,
  SEARCH_ATTRIBUTES,
  statusQuery,
  WORKFLOW_TYPE,
  workflowIdFor,
  type OrderStatus,
  type OrderWorkflowInput,
} from '../../workflows/definitions';
import type { orderWorkflow } from '../../workflows/order';
import { resetRun } from '../../chaos/reset-sweep';
import { createApiHarness } from '../support/api-helpers';
import {
  createSagaHarness,
  gatewayCli,
  orderInput,
  orderRows,
  recordHistory,
  startOrder,
  stockOf,
  temporalCli,
  waitForStatus,
  type SagaHarness,
} from '../support/saga-helpers';
import { until, waitFor } from '../support/wait';
import { insertProducts, uniqueSku } from '../support/services';

const INITIAL_STOCK = 10;
const PRICE_CENTS = 1250;
const QUANTITY = 2;
const TOTAL_CENTS = PRICE_CENTS * QUANTITY;

let h: SagaHarness;

beforeAll(async () => {
  // Three attempts: enough for tok_flaky (two transient errors), and NEEDS_ATTENTION is reached quickly.
  h = await createSagaHarness({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '3' } });
});

afterAll(async () => {
  await setGatewaySwitch(h.db, OUTAGE_SWITCH, false);
  await h.close();
});

/** A product of its own for one test, and an order input for QUANTITY of it. */
async function newOrder(label: string, token: string, settings: Partial<OrderWorkflowInput['settings']> = {}) {
  const sku = uniqueSku(label);
  const ids = await insertProducts(h.db, [{ sku, stock: INITIAL_STOCK, priceCents: PRICE_CENTS }]);
  const input = orderInput(h.config, [{ sku, quantity: QUANTITY }], token, settings);
  return { sku, productId: ids.get(sku), input };
}

/** Starts an order the way POST /orders does: update-with-start, answered once the reservation is decided. */
function startWithReservation(input: OrderWorkflowInput, requestHash = input.requestHash) {
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof orderWorkflow>(WORKFLOW_TYPE, {
    workflowId: workflowIdFor(input.orderId),
    taskQueue: h.config.temporal.taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return h.client.workflow.executeUpdateWithStart(reservationUpdate, {
    args: [{ requestHash }],
    startWorkflowOperation,
  });
}

/** A tok_unavailable order of its own, started and waiting in NEEDS_ATTENTION. */
async function orderInNeedsAttention(label: string) {
  const { sku, input } = await newOrder(label, 'tok_unavailable');
  const handle = await startOrder(h.client, h.config, input);
  await waitForStatus(handle, 'NEEDS_ATTENTION');
  return { sku, input, handle };
}

/** Sends `cancel` with `payload` from the Temporal CLI, the way ops type it (`meta`: `--input-meta` values). */
async function cancelFromCli(orderId: string, payload: unknown, meta: string[] = []): Promise<void> {
  await signalFromCli(orderId, 'cancel', JSON.stringify(payload), meta);
}

/** Sends signal `name` with one payload of `encoding` and `data` straight to the Temporal API: no converter, no codec. */
async function signalRaw(orderId: string, name: string, encoding: string, data: string): Promise<void> {
  await h.client.workflowService.signalWorkflowExecution({
    namespace: h.config.temporal.namespace,
    workflowExecution: { workflowId: workflowIdFor(orderId) },
    signalName: name,
    input: { payloads: [{ metadata: { encoding: Buffer.from(encoding) }, data: Buffer.from(data) }] },
  });
}

/** Sends signal `name` with the raw input text `input` and `--input-meta` values `meta` from the Temporal CLI. */
async function signalFromCli(orderId: string, name: string, input: string, meta: string[] = []): Promise<void> {
  const args = ['--workflow-id', workflowIdFor(orderId), '--name', name, '--input', input];
  await temporalCli(h.config, ['workflow', 'signal', ...args, ...meta.flatMap((m) => ['--input-meta', m])]);
}

async function eventStatuses(orderId: string): Promise<[number, string][]> {
  const { events } = await orderRows(h.db, orderId);
  return events.map((event) => [event.seq, event.status]);
}

async function searchStatus(handle: WorkflowHandle): Promise<unknown> {
  return (await handle.describe()).typedSearchAttributes.get(SEARCH_ATTRIBUTES.orderStatus);
}

/** docs/design.md's invariants for one test's product and order: stock conserved, paid once, or fully compensated. */
async function expectInvariants(sku: string, orderId: string) {
  expect(await checkInvariants(h.db, { initialStock: new Map([[sku, INITIAL_STOCK]]), orderIds: [orderId] })).toEqual(
    [],
  );
}

/** Stock back on the shelf, the reservation released, no money kept: what every cancelled order must leave. */
async function expectCompensated(sku: string, orderId: string) {
  await expectInvariants(sku, orderId);
  const rows = await orderRows(h.db, orderId);
  expect(await stockOf(h.db, sku)).toBe(INITIAL_STOCK);
  expect(rows.reservations.map((r) => r.status)).toEqual(['released']);
  expect(rows.payments.filter((p) => p.status === 'approved')).toEqual([]);
  return rows;
}

/** Waits until a `cancel` taken while the charge is scheduled is marked on the order row for the charge to see. */
async function waitForCancelMark(orderId: string): Promise<void> {
  await waitFor('cancel marked on the order row', async () =>
    (await h.db('orders').where({ id: orderId }).first('cancel_requested_run_id'))?.cancel_requested_run_id
      ? true
      : undefined,
  );
}

/** Cancelled before any charge: compensated, no payment row at all, PENDING, RESERVED, CANCELLED recorded. */
async function expectCancelledUncharged(sku: string, orderId: string): Promise<void> {
  const rows = await expectCompensated(sku, orderId);
  expect(rows.payments).toEqual([]);
  expect(await eventStatuses(orderId)).toEqual([
    [1, 'PENDING'],
    [2, 'RESERVED'],
    [3, 'CANCELLED'],
  ]);
}

/** The run ended with `result`, fully compensated, and the order row says the same; returns the rows. */
async function expectEndedCompensated(
  handle: WorkflowHandle,
  sku: string,
  result: { orderId: string; status: OrderStatus; reason: string },
) {
  await expect(handle.result()).resolves.toEqual(result);
  const rows = await expectCompensated(sku, result.orderId);
  expect(rows.order).toMatchObject({ status: result.status, failure_reason: result.reason });
  return rows;
}

describe('payment tokens (docs/design.md, Payment simulator)', () => {
  const completed: [number, OrderStatus][] = [
    [1, 'PENDING'],
    [2, 'RESERVED'],
    [3, 'CHARGING'],
    [4, 'PAID'],
    [5, 'COMPLETED'],
  ];
  test.each([
    { token: 'tok_ok', gatewayAttempts: 1 },
    { token: 'tok_flaky', gatewayAttempts: 3 },
    { token: 'tok_slow', gatewayAttempts: 1 },
  ])(
    'when the token is $token, then the order is COMPLETED with its stock committed and charged once',
    async ({ token, gatewayAttempts }) => {
      const { sku, productId, input } = await newOrder(token, token);
      const handle = await startOrder(h.client, h.config, input);

      await expect(handle.result()).resolves.toEqual({ orderId: input.orderId, status: 'COMPLETED' });
      const rows = await orderRows(h.db, input.orderId);
      expect(rows.order).toMatchObject({ status: 'COMPLETED', total_cents: String(TOTAL_CENTS), failure_reason: null });
      expect(await eventStatuses(input.orderId)).toEqual(completed);
      expect(rows.reservations).toEqual([{ product_id: productId, quantity: QUANTITY, status: 'committed' }]);
      expect(rows.payments).toEqual([
        {
          idempotency_key: paymentIdempotencyKey(input.orderId),
          amount_cents: String(TOTAL_CENTS),
          status: 'approved',
          attempts: gatewayAttempts,
        },
      ]);
      expect(await stockOf(h.db, sku)).toBe(INITIAL_STOCK - QUANTITY);
      await expectInvariants(sku, input.orderId);
      const view = await handle.query(statusQuery);
      expect(view).toMatchObject({ status: 'COMPLETED', attempts: 1, cancelRequested: false });
      expect(view.payment).toMatchObject({ status: 'approved', amountCents: TOTAL_CENTS });
      expect(view.events.map((e) => [e.seq, e.status])).toEqual(completed);
      expect(await searchStatus(handle)).toBe('COMPLETED');
      const attributes = (await handle.describe()).typedSearchAttributes;
      expect(attributes.get(SEARCH_ATTRIBUTES.customerId)).toBe(input.customerId);
      expect(attributes.get(SEARCH_ATTRIBUTES.orderTotalCents)).toBe(TOTAL_CENTS);
      await recordHistory(h.config, handle, `completed-${token}`);
    },
  );

  test('when the token is tok_decline, then the order is FAILED, its stock released and nothing charged', async () => {
    const { sku, input } = await newOrder('decline', 'tok_decline');
    const handle = await startOrder(h.client, h.config, input);

    const rows = await expectEndedCompensated(handle, sku, {
      orderId: input.orderId,
      status: 'FAILED',
      reason: 'card_declined',
    });
    expect(rows.payments).toMatchObject([{ status: 'declined', attempts: 1 }]);
    expect(await eventStatuses(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'RESERVED'],
      [3, 'CHARGING'],
      [4, 'FAILED'],
    ]);
    expect(await searchStatus(handle)).toBe('FAILED');
    await recordHistory(h.config, handle, 'failed-declined');
  });

  test('when the token is tok_unavailable, then the order waits in NEEDS_ATTENTION holding its stock', async () => {
    const { sku, input } = await newOrder('unavailable', 'tok_unavailable');
    const handle = await startOrder(h.client, h.config, input);

    const view = await waitForStatus(handle, 'NEEDS_ATTENTION');
    expect(view.payment).toMatchObject({ status: 'unavailable', idempotencyKey: paymentIdempotencyKey(input.orderId) });
    expect(view.payment.lastError).toContain('unavailable');
    const held = await orderRows(h.db, input.orderId);
    expect(held.reservations.map((r) => r.status)).toEqual(['held']);
    expect(held.payments).toEqual([]);
    expect(await stockOf(h.db, sku)).toBe(INITIAL_STOCK - QUANTITY);
    await waitFor('OrderStatus search attribute', async () =>
      (await searchStatus(handle)) === 'NEEDS_ATTENTION' ? true : undefined,
    );

    // cancel in NEEDS_ATTENTION
    await handle.signal(cancelSignal, { reason: 'customer changed their mind' });
    await expectEndedCompensated(handle, sku, {
      orderId: input.orderId,
      status: 'CANCELLED',
      reason: 'customer changed their mind',
    });
    expect(await eventStatuses(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'RESERVED'],
      [3, 'CHARGING'],
      [4, 'NEEDS_ATTENTION'],
      [5, 'CANCELLED'],
    ]);
    await recordHistory(h.config, handle, 'cancelled-needs-attention');
  });
});

describe('reservation update (update-with-start, as POST /orders uses it)', () => {
  test('when stock is available, then the update answers RESERVED with the priced lines', async () => {
    const { productId, input } = await newOrder('update', 'tok_ok');
    const outcome = await startWithReservation(input);
    expect(outcome).toEqual({
      status: 'RESERVED',
      totalCents: TOTAL_CENTS,
      lines: [{ sku: input.lines[0]?.sku, quantity: QUANTITY, productId, unitPriceCents: PRICE_CENTS }],
    });

    // The same request again (a client retry with the same Idempotency-Key) joins the same run and gets the same answer.
    await expect(startWithReservation(input)).resolves.toEqual(outcome);
    const handle = h.client.workflow.getHandle(workflowIdFor(input.orderId));
    await expect(handle.result()).resolves.toMatchObject({ status: 'COMPLETED' });
    expect((await orderRows(h.db, input.orderId)).payments).toHaveLength(1);
  });

  test('when the request hash differs, then the update is rejected with REQUEST_MISMATCH and nothing changes', async () => {
    const { input } = await newOrder('mismatch', 'tok_ok');
    const hold = h.hold(input.orderId, 'chargePayment'); // keep the run open while the second request arrives
    await startWithReservation(input);
    const error: unknown = await startWithReservation(input, 'another-hash').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (error as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe(REQUEST_MISMATCH_FAILURE);
    hold.release();
    await expect(h.client.workflow.getHandle(workflowIdFor(input.orderId)).result()).resolves.toMatchObject({
      status: 'COMPLETED',
    });
  });

  test('when stock is short, then the update answers REJECTED with shortages and the order ends REJECTED', async () => {
    const sku = uniqueSku('short');
    await insertProducts(h.db, [{ sku, stock: 1, priceCents: PRICE_CENTS }]);
    const input = orderInput(h.config, [{ sku, quantity: 3 }], 'tok_ok');

    await expect(startWithReservation(input)).resolves.toEqual({
      status: 'REJECTED',
      reason: 'insufficient_stock',
      shortages: [{ sku, requested: 3, available: 1 }],
    });
    const handle = h.client.workflow.getHandle(workflowIdFor(input.orderId));
    await expect(handle.result()).resolves.toEqual({
      orderId: input.orderId,
      status: 'REJECTED',
      reason: 'insufficient_stock',
    });
    const rows = await orderRows(h.db, input.orderId);
    expect(rows.order).toMatchObject({ status: 'REJECTED', failure_reason: 'insufficient_stock' });
    expect(rows.reservations).toEqual([]);
    expect(rows.payments).toEqual([]);
    expect(await stockOf(h.db, sku)).toBe(1);
    expect(await eventStatuses(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'REJECTED'],
    ]);
    await recordHistory(h.config, handle, 'rejected-insufficient-stock');
  });

  test('when a SKU is unknown, then the update answers REJECTED unknown_sku', async () => {
    const input = orderInput(h.config, [{ sku: uniqueSku('nope'), quantity: 1 }], 'tok_ok');
    await expect(startWithReservation(input)).resolves.toMatchObject({ status: 'REJECTED', reason: 'unknown_sku' });
    await expect(h.client.workflow.getHandle(workflowIdFor(input.orderId)).result()).resolves.toMatchObject({
      status: 'REJECTED',
      reason: 'unknown_sku',
    });
  });
});

describe('cancel', () => {
  /** A tok_ok order whose charge is held when a cancel arrives; `charging.release()` lets it see the cancel mark. */
  async function cancelledWhileCharging(label: string) {
    const { sku, input } = await newOrder(label, 'tok_ok');
    const charging = h.hold(input.orderId, 'chargeOrder');
    const handle = await startOrder(h.client, h.config, input);
    await charging.reached;
    await handle.signal(cancelSignal, { reason: 'customer' });
    return { sku, input, handle, charging };
  }

  /** An operator's retry without the cancel: a Reset of the current run to its first workflow task, signals excluded. */
  async function retryWithoutCancel(handle: WorkflowHandle): Promise<string> {
    const execution = { workflowId: handle.workflowId, runId: (await handle.describe()).runId };
    return resetRun(h.client, execution, { mode: 'without-signals', reason: 'ops: retry without the cancel' });
  }

  test('when a Reset without signals places the order while the replaced run still compensates, then that compensation changes nothing and the new run completes', async () => {
    const { sku, input, handle, charging } = await cancelledWhileCharging('cancel-stale-undo');
    // The charge sees the cancel mark and charges nothing; the run's compensation is held before it starts.
    const staleUndo = h.hold(input.orderId, 'compensateOrder');
    charging.release();
    await staleUndo.reached;

    // An operator retries without the cancel; the new run reuses the held stock, and its charge is held.
    const secondCharge = h.hold(input.orderId, 'chargeOrder');
    const runId = await retryWithoutCancel(handle);
    await secondCharge.reached;
    // The replaced run's compensation now runs (still in the worker): it must leave the new run's order alone.
    staleUndo.release();
    await until(
      'the replaced run compensation to end',
      async () =>
        h.logged(input.orderId, 'compensation skipped: a newer run of the order took over (a Reset)') ||
        (await orderRows(h.db, input.orderId)).order?.status === 'CANCELLED',
    );
    secondCharge.release();

    const reset = h.client.workflow.getHandle<typeof orderWorkflow>(handle.workflowId, runId);
    await expect(reset.result()).resolves.toMatchObject({ status: 'COMPLETED' });
    expect(
      await checkInvariants(h.db, { initialStock: new Map([[sku, INITIAL_STOCK]]), orderIds: [input.orderId] }),
    ).toEqual([]);
  });

  test('when a customer cancels through the API while a Reset run reopens the CANCELLED order, then the new run gets the cancel', async () => {
    const { sku, input, handle, charging } = await cancelledWhileCharging('cancel-reopened');
    charging.release();
    await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED' });

    // An operator retries it; the new run's placement is held, so the row still says CANCELLED while it runs.
    const placing = h.hold(input.orderId, 'placeOrder');
    const runId = await retryWithoutCancel(handle);
    await placing.reached;
    const api = await createApiHarness({ worker: false, temporal: h.client });
    try {
      const answer = await api.request('POST', `/orders/${input.orderId}/cancel`, {
        token: api.token(input.customerId),
        body: { reason: 'customer: still no' },
      });
      expect(answer.status).toBe(202);
    } finally {
      placing.release();
      await api.close();
    }

    const reopened = h.client.workflow.getHandle<typeof orderWorkflow>(handle.workflowId, runId);
    await expect(reopened.result()).resolves.toMatchObject({ status: 'CANCELLED', reason: 'customer: still no' });
    expect(await h.db('payments').where({ order_id: input.orderId, status: 'approved' })).toEqual([]);
    expect(
      await checkInvariants(h.db, { initialStock: new Map([[sku, INITIAL_STOCK]]), orderIds: [input.orderId] }),
    ).toEqual([]);
  });

  test('when cancelled in PENDING, then the charge waits for the workflow to take the cancel and nothing is charged', async () => {
    // A charge timeout long enough that the charge's wait (a third of it at most) outlasts any stall of this test.
    const { sku, input } = await newOrder('cancel-pending', 'tok_ok', { chargeTimeoutMs: 60_000 });
    const placing = h.hold(input.orderId, 'placeOrder');
    const handle = await startOrder(h.client, h.config, input);
    await placing.reached;
    // The signal lands while the order is being placed: the workflow sees it in its next task, after the charge was
    // scheduled. That task's cancel mark is held, so the charge starts while Temporal still holds the cancel for the
    // workflow: the charge must wait for that task rather than race its mark (docs/saga.md, "Cancel").
    const mark = h.hold(input.orderId, 'markCancelRequested');
    await handle.signal(cancelSignal, {});
    placing.release();
    await mark.reached;
    await until('the charge waits for the workflow task', () => h.logged(input.orderId, WAIT_STARTED), 20_000);
    mark.release();
    await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED', reason: 'cancel_requested' });
    expect(h.logged(input.orderId, WAIT_GIVEN_UP)).toBe(false);
    await expectCancelledUncharged(sku, input.orderId);
    await recordHistory(h.config, handle, 'cancelled-pending');
  });

  test('when cancelled in RESERVED, then nothing is charged and the stock is released', async () => {
    const { sku, input } = await newOrder('cancel-reserved', 'tok_ok');
    // The charge is scheduled (and its activity picked up) but has not started: the cancel must still stop it.
    const hold = h.hold(input.orderId, 'chargeOrder');
    const handle = await startOrder(h.client, h.config, input);
    await hold.reached;
    expect((await handle.query(statusQuery)).status).toBe('RESERVED');

    await handle.signal(cancelSignal, { reason: 'ops' });
    await waitForCancelMark(input.orderId);
    hold.release();
    await expect(handle.result()).resolves.toEqual({ orderId: input.orderId, status: 'CANCELLED', reason: 'ops' });
    await expectCancelledUncharged(sku, input.orderId);
    await recordHistory(h.config, handle, 'cancelled-reserved');
  });

  test('when cancelled during CHARGING (tok_slow), then the charge finishes and is refunded', async () => {
    const { sku, input } = await newOrder('cancel-charging', 'tok_slow');
    const handle = await startOrder(h.client, h.config, input);
    // The charge itself is in flight: CHARGING is recorded by the charge activity just before the gateway call.
    await waitFor('CHARGING recorded', async () =>
      (await orderRows(h.db, input.orderId)).order?.status === 'CHARGING' ? true : undefined,
    );

    await handle.signal(cancelSignal, { reason: 'too slow' });
    await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED', reason: 'too slow' });
    const rows = await expectCompensated(sku, input.orderId);
    expect(rows.payments).toMatchObject([{ status: 'refunded', amount_cents: String(TOTAL_CENTS) }]);
    expect(await eventStatuses(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'RESERVED'],
      [3, 'CHARGING'],
      [4, 'PAID'],
      [5, 'CANCELLED'],
    ]);
    const view = await handle.query(statusQuery);
    expect(view.payment.status).toBe('refunded');
    expect(view.events.at(-1)?.detail).toMatchObject({ refunded: true });
    await recordHistory(h.config, handle, 'cancelled-charging-refunded');
  });

  test('when ops cancel the workflow from the Temporal UI (cancellation request), then it ends CANCELLED normally', async () => {
    const { sku, input, handle } = await orderInNeedsAttention('temporal-cancel');

    await handle.cancel();
    await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED' });
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    await expectCompensated(sku, input.orderId);
  });

  test('when a cancel arrives after COMPLETED, then nothing changes', async () => {
    const { sku, input } = await newOrder('cancel-late', 'tok_ok');
    const handle = await startOrder(h.client, h.config, input);
    await handle.result();
    const before = await orderRows(h.db, input.orderId);

    await expect(handle.signal(cancelSignal, {})).rejects.toThrow();
    expect(await orderRows(h.db, input.orderId)).toEqual(before);
    expect(await stockOf(h.db, sku)).toBe(INITIAL_STOCK - QUANTITY);
  });

  test('when a cancel reaches the order row only after the charge committed the stock, then the order stays COMPLETED and the rows agree', async () => {
    const { sku, input } = await newOrder('cancel-committing', 'tok_ok');
    const charge = h.hold(input.orderId, 'chargeOrder');
    const mark = h.hold(input.orderId, 'markCancelRequested');
    const handle = await startOrder(h.client, h.config, input);
    await charge.reached;

    // The workflow takes the cancel while the charge is scheduled; its mark is held until the charge has committed
    // (the charge waits a third of its 10 s timeout at most for the task holding the mark, then goes on).
    await handle.signal(cancelSignal, { reason: 'late' });
    await mark.reached;
    charge.release();
    await until(
      'the stock committed with the payment',
      async () => (await orderRows(h.db, input.orderId)).order?.status === 'COMPLETED',
      20_000,
    );
    mark.release();

    const result = await handle.result();
    const rows = await orderRows(h.db, input.orderId);
    expect(result.status).toBe('COMPLETED');
    expect(rows.order?.status).toBe('COMPLETED');
    expect(rows.reservations.map((r) => r.status)).toEqual(['committed']);
    expect(rows.payments.map((p) => p.status)).toEqual(['approved']);
    await expectInvariants(sku, input.orderId);
  });

  test('when the workflow is terminated while its charge runs and the charge is approved, then the charge completes the order and the books agree', async () => {
    const { sku, input } = await newOrder('terminate-charging', 'tok_ok');
    const charge = h.hold(input.orderId, 'chargeOrder');
    const handle = await startOrder(h.client, h.config, input);
    await charge.reached;

    await handle.terminate('operator clean-up');
    charge.release();
    await until(
      'the charge to finish after the workflow is gone',
      async () => (await orderRows(h.db, input.orderId)).order?.status === 'COMPLETED',
      20_000,
    );

    const rows = await orderRows(h.db, input.orderId);
    expect((await handle.describe()).status.name).toBe('TERMINATED');
    expect(rows.reservations.map((r) => r.status)).toEqual(['committed']);
    expect(rows.payments.map((p) => p.status)).toEqual(['approved']);
    expect(rows.events.map((e) => e.status)).toEqual(['PENDING', 'RESERVED', 'CHARGING', 'PAID', 'COMPLETED']);
    await expectInvariants(sku, input.orderId);
  });
});

describe('operations: outage, NEEDS_ATTENTION, retryPayment from the CLI, attention timeout', () => {
  test('when the gateway is down, then the order goes NEEDS_ATTENTION, ops find it and retryPayment completes it', async () => {
    const { sku, input } = await newOrder('outage', 'tok_ok');
    expect(await gatewayCli(h.config, ['outage', 'on'])).toContain('outage: on');
    let handle: WorkflowHandle<typeof orderWorkflow>;
    try {
      handle = await startOrder(h.client, h.config, input);
      await waitForStatus(handle, 'NEEDS_ATTENTION');
      expect((await orderRows(h.db, input.orderId)).reservations.map((r) => r.status)).toEqual(['held']);
    } finally {
      await setGatewaySwitch(h.db, OUTAGE_SWITCH, false); // never leave the shared test database in an outage
    }
    expect(await gatewayCli(h.config, ['outage', 'status'])).toContain('outage: off');
    const workflowId = workflowIdFor(input.orderId);

    const listed = await waitFor('the order in the NEEDS_ATTENTION list', async () => {
      const out = await temporalCli(h.config, [
        'workflow',
        'list',
        '--query',
        `OrderStatus="NEEDS_ATTENTION" AND ExecutionStatus="Running" AND WorkflowId="${workflowId}"`,
        '--output',
        'json',
      ]);
      return out.includes(workflowId) ? out : undefined;
    });
    expect(listed).toContain(workflowId);

    await temporalCli(h.config, ['workflow', 'signal', '--workflow-id', workflowId, '--name', 'retryPayment']);
    await expect(handle.result()).resolves.toMatchObject({ status: 'COMPLETED' });
    const rows = await orderRows(h.db, input.orderId);
    expect(rows.payments).toEqual([
      expect.objectContaining({ idempotency_key: paymentIdempotencyKey(input.orderId), status: 'approved' }),
    ]);
    expect(rows.reservations.map((r) => r.status)).toEqual(['committed']);
    expect(await stockOf(h.db, sku)).toBe(INITIAL_STOCK - QUANTITY);
    await expectInvariants(sku, input.orderId);
    expect((await eventStatuses(input.orderId)).map(([, status]) => status)).toEqual([
      'PENDING',
      'RESERVED',
      'CHARGING',
      'NEEDS_ATTENTION',
      'CHARGING',
      'PAID',
      'COMPLETED',
    ]);
    expect((await handle.query(statusQuery)).attempts).toBe(2);
    await recordHistory(h.config, handle, 'completed-after-retry-payment');
  });

  test('when ops send cancel from the CLI to a NEEDS_ATTENTION order, then it ends CANCELLED', async () => {
    const { sku, input, handle } = await orderInNeedsAttention('cli-cancel');

    await cancelFromCli(input.orderId, { reason: 'ops: card blocked' });
    await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED', reason: 'ops: card blocked' });
    await expectCompensated(sku, input.orderId);
  });

  test('when nobody acts within the attention timeout, then the order cancels itself', async () => {
    const { sku, input } = await newOrder('attention-timeout', 'tok_unavailable', { attentionTimeoutMs: 1_000 });
    const handle = await startOrder(h.client, h.config, input);

    await expectEndedCompensated(handle, sku, {
      orderId: input.orderId,
      status: 'CANCELLED',
      reason: ATTENTION_TIMEOUT_REASON,
    });
    expect((await eventStatuses(input.orderId)).map(([, status]) => status)).toEqual([
      'PENDING',
      'RESERVED',
      'CHARGING',
      'NEEDS_ATTENTION',
      'CANCELLED',
    ]);
    await recordHistory(h.config, handle, 'cancelled-attention-timeout');
  });
});

describe('the lean shape with the commit in the charge (COMMIT_WITH_CHARGE_PATCH)', () => {
  /** Counts what Temporal did for one order: workflow tasks, activity tasks, local activities, history events. */
  async function costOf(handle: WorkflowHandle) {
    const events = (await handle.fetchHistory()).events ?? [];
    const index = (predicate: (e: (typeof events)[number]) => unknown) => events.findIndex(predicate);
    return {
      workflowTasks: events.filter((e) => e.workflowTaskCompletedEventAttributes).length,
      activityTasks: events.filter((e) => e.activityTaskScheduledEventAttributes).length,
      historyEvents: events.length,
      updateCompletedAt: index((e) => e.workflowExecutionUpdateCompletedEventAttributes),
      secondTaskStartedAt: events
        .map((e, i) => (e.workflowTaskStartedEventAttributes ? i : -1))
        .filter((i) => i >= 0)[1],
    };
  }

  test('when a tok_ok order runs, then it takes 2 workflow tasks, 1 activity task and at most 18 history events (the issue-16 goal: 3, 2, 25), and the reservation is answered in the first task', async () => {
    const { input } = await newOrder('shape', 'tok_ok');
    await expect(startWithReservation(input)).resolves.toMatchObject({ status: 'RESERVED' });
    const handle = h.client.workflow.getHandle<typeof orderWorkflow>(workflowIdFor(input.orderId));
    await expect(handle.result()).resolves.toMatchObject({ status: 'COMPLETED' });

    const cost = await costOf(handle);
    expect(cost.workflowTasks).toBe(2);
    expect(cost.activityTasks).toBe(1);
    expect(cost.historyEvents).toBeLessThanOrEqual(18);
    expect(cost.updateCompletedAt).toBeGreaterThan(0);
    expect(cost.updateCompletedAt).toBeLessThan(cost.secondTaskStartedAt ?? Infinity);
  });

  test('when the order totals zero, then it completes without any charge and the books agree', async () => {
    const sku = uniqueSku('free');
    await insertProducts(h.db, [{ sku, stock: INITIAL_STOCK, priceCents: 0 }]);
    const input = orderInput(h.config, [{ sku, quantity: QUANTITY }], 'tok_ok');
    const handle = await startOrder(h.client, h.config, input);

    await expect(handle.result()).resolves.toEqual({ orderId: input.orderId, status: 'COMPLETED' });
    const rows = await orderRows(h.db, input.orderId);
    expect(rows.order).toMatchObject({ status: 'COMPLETED', total_cents: '0' });
    expect(rows.payments).toEqual([]);
    expect(rows.reservations.map((r) => r.status)).toEqual(['committed']);
    expect((await eventStatuses(input.orderId)).map(([, status]) => status)).toEqual([
      'PENDING',
      'RESERVED',
      'COMPLETED',
    ]);
    await expectInvariants(sku, input.orderId);
  });

  test('when an order is started the way the API does, then the Temporal UI shows its summary, lines and current details without the payment token', async () => {
    const { input } = await newOrder('metadata', 'tok_ok');
    await apiStartOrder(h.client, h.config, input, { timeoutMs: 10_000, retryAfterSeconds: 1 });
    const handle = h.client.workflow.getHandle<typeof orderWorkflow>(workflowIdFor(input.orderId));
    await handle.result();

    const description = await handle.describe();
    const summary = await description.staticSummary();
    const details = await description.staticDetails();
    expect(summary).toContain(input.customerId);
    expect(details).toContain(input.lines[0]?.sku);
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('**Status:** COMPLETED');
    expect(metadata.currentDetails).toContain(`${(TOTAL_CENTS / 100).toFixed(2)} USD`);
    for (const text of [summary, details, metadata.currentDetails]) expect(text).not.toContain(input.paymentToken);
  });
});

describe('orderWorkflow started by hand (temporal workflow start --input ...)', () => {
  type Shape = (input: OrderWorkflowInput) => unknown;
  const withRetry = (input: OrderWorkflowInput, retry: Record<string, unknown>) => ({
    ...input,
    settings: { ...input.settings, paymentRetry: { ...input.settings.paymentRetry, ...retry } },
  });
  test.each<[string, Shape, string]>([
    ['no settings', ({ settings: _settings, ...rest }) => rest, 'settings'],
    ['a retry policy Temporal refuses', (input) => withRetry(input, { maximumAttempts: -1 }), 'maximumAttempts'],
    [
      'a charge timeout that is not a number',
      (input) => ({ ...input, settings: { ...input.settings, chargeTimeoutMs: 'x' } }),
      'chargeTimeoutMs',
    ],
    [
      'an attention timeout in words',
      (input) => ({ ...input, settings: { ...input.settings, attentionTimeoutMs: 'soon' } }),
      'attentionTimeoutMs',
    ],
    ['null', () => null, 'input'],
    [
      'an unknown field on a line',
      (input) => ({ ...input, lines: [{ ...input.lines[0], price: 1 }] }),
      'lines[0].price',
    ],
  ])(
    'when it is started with %s, then the run fails at once naming the field, and nothing is held or written',
    async (_what, shape, field) => {
      const { sku, input } = await newOrder('by-hand', 'tok_ok');
      const handle = await h.client.workflow.start(WORKFLOW_TYPE, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: workflowIdFor(input.orderId),
        args: [shape(input)],
      });
      const failure = (await handle.result().then(
        () => undefined,
        (error: unknown) => error,
      )) as { cause?: unknown } | undefined;
      expect(failure?.cause).toBeInstanceOf(ApplicationFailure);
      expect(failure?.cause).toMatchObject({ type: 'InvalidWorkflowInput', nonRetryable: true });
      expect((failure?.cause as ApplicationFailure).message).toContain(field);
      expect(await h.db('orders').where({ id: input.orderId }).first()).toBeUndefined();
      expect(await stockOf(h.db, sku)).toBe(INITIAL_STOCK);
    },
  );

  test('when a run is started for an existing order under another workflow id, then it fails and the order is untouched', async () => {
    const { handle, input } = await orderInNeedsAttention('dup-id');
    const before = await orderRows(h.db, input.orderId);
    const stray = await h.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `ops-dup-${input.orderId}`,
      args: [{ ...input, paymentToken: 'tok_ok' }],
    });
    const failure = (await stray.result().then(
      () => undefined,
      (error: unknown) => error,
    )) as { cause?: unknown } | undefined;
    expect(failure?.cause).toMatchObject({ type: 'InvalidWorkflowInput' });
    expect(await orderRows(h.db, input.orderId)).toEqual(before);
    expect((await handle.query(statusQuery)).status).toBe('NEEDS_ATTENTION');
    await handle.signal(cancelSignal, { reason: 'test over' });
    await handle.result();
  });
});

describe('signals typed by hand (the CLI sends any JSON)', () => {
  test.each([
    { label: 'a 100 KB reason', payload: { reason: 'x'.repeat(100_000) }, stored: 'x'.repeat(MAX_REASON_LENGTH) },
    { label: 'a NUL in the reason', payload: { reason: 'stop\u0000now' }, stored: 'stop\uFFFDnow' },
    { label: 'a lone surrogate', payload: { reason: '\ud800' }, stored: '\uFFFD' },
    { label: 'a right-to-left override', payload: { reason: 'ops \u202Eti' }, stored: 'ops \uFFFDti' },
    { label: 'a number', payload: 42, stored: 'cancel_requested' },
    { label: 'a numeric reason', payload: { reason: 7 }, stored: 'cancel_requested' },
    { label: 'unknown fields', payload: { reason: 'ops', force: true }, stored: 'ops' },
    // Payloads no converter reads: the signal still cancels, without its reason.
    {
      label: 'an unknown encoding',
      payload: { reason: 'ops' },
      meta: ['encoding=json/bogus'],
      stored: 'cancel_requested',
    },
    {
      label: 'bytes that are not JSON',
      payload: undefined,
      notJson: 'not json {',
      stored: 'cancel_requested',
    },
    {
      label: 'an encrypted payload without a key id',
      payload: { reason: 'ops' },
      meta: ['encoding=binary/encrypted'],
      stored: 'cancel_requested',
    },
    {
      label: 'an encrypted payload under a key nobody holds',
      payload: { reason: 'ops' },
      meta: ['encoding=binary/encrypted', 'encryption-key-id=nobody'],
      stored: 'cancel_requested',
    },
  ])(
    'when a NEEDS_ATTENTION order gets a cancel with $label, then it ends CANCELLED with a storable reason and the task never fails',
    async ({ payload, stored, meta, notJson }) => {
      const { sku, input, handle } = await orderInNeedsAttention('signal-payload');

      // The CLI refuses to send bytes that are not JSON as json/plain; the Temporal API takes them (as the UI's does).
      if (notJson !== undefined) await signalRaw(input.orderId, 'cancel', 'json/plain', notJson);
      else await cancelFromCli(input.orderId, payload, meta);
      await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED', reason: stored });
      const rows = await expectCompensated(sku, input.orderId);
      expect(rows.order?.failure_reason).toBe(stored);
      const history = (await handle.fetchHistory()).events ?? [];
      expect(history.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    },
  );

  test('when a NEEDS_ATTENTION order gets retryPayment with a payload nobody can read, then it charges again and the task never fails', async () => {
    const { input, handle } = await orderInNeedsAttention('retry-payload');
    const before = (await handle.query(statusQuery)).attempts;

    await signalFromCli(input.orderId, 'retryPayment', '{}', ['encoding=json/bogus']);
    await waitFor('a new charge round', async () =>
      (await handle.query(statusQuery)).attempts > before ? true : undefined,
    );
    const history = (await handle.fetchHistory()).events ?? [];
    expect(history.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    await handle.signal(cancelSignal, { reason: 'test over' });
    await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED' });
  });

  test('when the reservation update comes with a payload nobody can read, then it is rejected and the order goes on', async () => {
    const { input, handle } = await orderInNeedsAttention('update-payload');
    const args = ['--workflow-id', workflowIdFor(input.orderId), '--name', 'reservation', '--input', '{}'];

    await expect(
      temporalCli(h.config, ['workflow', 'update', 'execute', ...args, '--input-meta', 'encoding=json/bogus']),
    ).rejects.toThrow(
      /UndecodableUpdatePayload[\s\S]*could not be decoded|could not be decoded[\s\S]*UndecodableUpdatePayload/,
    );
    await handle.signal(cancelSignal, { reason: 'test over' });
    await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED', reason: 'test over' });
    const history = (await handle.fetchHistory()).events ?? [];
    expect(history.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
  });
});
