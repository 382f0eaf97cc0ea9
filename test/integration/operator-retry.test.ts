/**
 * Issue 15's small inputs, as an operator types them: a Reset from the CLI of a cancelled order (cancelled while
 * RESERVED, and while CHARGING) must leave books that agree, with the `orders` row, the `OrderStatus` search attribute,
 * the API and the workflow's result saying the same; and a hand-typed `cancel` signal payload (100 KB, a number, an
 * object, unknown fields, unstorable characters) is never stored raw and never fails a workflow task.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { findOrderRow, loadOrderView } from '../../api/order-store';
import { TEST_TOKENS } from '../../activities/payments';
import {
  checkOrder,
  placeAndFinish,
  runOutcome,
  sweepInput,
  sweepPath,
  SWEEP_INITIAL_STOCK,
  SWEEP_QUANTITY,
  type SweepOrder,
  type SweepWorld,
} from '../../chaos/reset-sweep';
import { isStorableText, MAX_REASON_LENGTH } from '../../lib/storable-text';
import {
  cancelSignal,
  SEARCH_ATTRIBUTES,
  statusQuery,
  WORKFLOW_TYPE,
  workflowIdFor,
} from '../../workflows/definitions';
import type { orderWorkflow } from '../../workflows/order';
import {
  createSagaHarness,
  directActivities,
  orderRows,
  stockOf,
  sweepWorld,
  temporalCli,
  type SagaHarness,
} from '../support/saga-helpers';
import { insertProducts, uniqueSku } from '../support/services';
import { waitFor } from '../support/wait';

let h: SagaHarness;
let world: SweepWorld;

beforeAll(async () => {
  h = await createSagaHarness({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '2', PAYMENT_SLOW_MS: '1000' } });
  world = sweepWorld(h);
});

afterAll(async () => {
  await h.close();
});

/** `temporal workflow reset --type FirstWorkflowTask --reapply-exclude Signal`, as in the issue; the new run's id. */
async function resetToFirstTaskWithoutSignals(order: SweepOrder): Promise<string> {
  await temporalCli(h.config, [
    'workflow',
    'reset',
    '--workflow-id',
    order.workflowId,
    '--type',
    'FirstWorkflowTask',
    '--reapply-exclude',
    'Signal',
    '--reason',
    'retry',
  ]);
  const current = await h.client.workflow.getHandle(order.workflowId).describe();
  expect(current.runId).not.toBe(order.baseRunId);
  return current.runId;
}

/** Status as GET /orders/:id answers it (the route's own loader, api/order-store.ts). */
async function apiStatus(order: SweepOrder): Promise<unknown> {
  const row = await findOrderRow(h.db, order.orderId);
  if (row === undefined) throw new Error(`no order ${order.orderId}`);
  return (await loadOrderView(h.db, row)).status;
}

describe('Reset from the CLI after a cancel', () => {
  test('when a tok_slow order cancelled while RESERVED is reset to its first workflow task without signals, then the reset run is a retry and the books agree', async () => {
    const path = { ...sweepPath('cancel_in_RESERVED'), token: TEST_TOKENS.slow };
    const order = await placeAndFinish(world, path);
    expect(await runOutcome(h.client, order.workflowId, order.baseRunId)).toMatchObject({
      result: { status: 'CANCELLED' },
    });

    const runId = await resetToFirstTaskWithoutSignals(order);
    const outcome = await runOutcome(h.client, order.workflowId, runId);

    expect(await checkOrder(world, order, runId, outcome)).toEqual([]);
    // Without the cancel (it belonged to the earlier run) the reset run re-reserves and charges under a key of its own:
    // COMPLETED, the units committed, the total captured once.
    expect(outcome).toMatchObject({ result: { status: 'COMPLETED' } });
    const rows = await orderRows(h.db, order.orderId);
    expect(rows.reservations).toMatchObject([{ quantity: SWEEP_QUANTITY, status: 'committed' }]);
    expect(rows.payments.filter((p) => p.status === 'approved')).toHaveLength(1);
    expect(await stockOf(h.db, order.sku)).toBe(SWEEP_INITIAL_STOCK - SWEEP_QUANTITY);
  });

  test('when an order cancelled while CHARGING (charged, then refunded) is reset without signals, then row, search attribute, API and result agree', async () => {
    const order = await placeAndFinish(world, sweepPath('cancel_in_CHARGING'));
    const base = await orderRows(h.db, order.orderId);
    expect(base.order?.status).toBe('CANCELLED');
    expect(base.payments).toMatchObject([{ status: 'refunded' }]);

    const runId = await resetToFirstTaskWithoutSignals(order);
    const outcome = await runOutcome(h.client, order.workflowId, runId);

    expect(await checkOrder(world, order, runId, outcome)).toEqual([]);
    const resultStatus = 'result' in outcome ? outcome.result.status : outcome.error;
    const described = await h.client.workflow.getHandle(order.workflowId, runId).describe();
    const rows = await orderRows(h.db, order.orderId);
    expect({
      row: rows.order?.status,
      lastEvent: rows.events.at(-1)?.status,
      searchAttribute: described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.orderStatus),
      api: await apiStatus(order),
    }).toEqual({ row: resultStatus, lastEvent: resultStatus, searchAttribute: resultStatus, api: resultStatus });
  });
});

/** Hand-typed `cancel` payloads, as `temporal workflow signal --name cancel --input ...` delivers them. */
const HOSTILE_CANCELS: [string, unknown][] = [
  ['a 100 KB reason', { reason: 'x'.repeat(100_000) }],
  ['a number', 12345],
  ['a reason that is a number', { reason: 42 }],
  ['an object reason', { reason: { nested: { deep: 'x'.repeat(1000) } } }],
  ['unknown fields', { reason: 'fine', note: 'y'.repeat(10_000), extra: [1, 2, 3] }],
  ['U+0000 and a lone surrogate', { reason: 'bad\u0000text\uD800' }],
  ['a bare string', 'z'.repeat(5_000)],
];

/**
 * The workflow tasks of the run that our code failed, as `cause: message`. A task the server refused with cause
 * UNHANDLED_COMMAND is not one: a signal arrived while the task was completing the workflow (here the clean-up cancel
 * racing the run's last task), so the server had the worker run it again with the signal in.
 */
async function failedWorkflowTasks(handle: WorkflowHandle): Promise<string[]> {
  const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((event) => {
    const failed = event.workflowTaskFailedEventAttributes;
    if (event.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED || failed === null || failed === undefined) {
      return [];
    }
    if (failed.cause === WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND) return [];
    return [`${WorkflowTaskFailedCause[failed.cause ?? 0]}: ${failed.failure?.message ?? ''}`];
  });
}

describe('Reset of an order another party closed', () => {
  const { activities: steps } = directActivities();

  test('when an order terminated in NEEDS_ATTENTION and settled is reset to the task that recorded it, then the new run ends CANCELLED and charges nothing', async () => {
    const sku = uniqueSku('reset-closed');
    await insertProducts(h.db, [{ sku, stock: SWEEP_INITIAL_STOCK, priceCents: 1250 }]);
    // A long attention timeout: the order waits in NEEDS_ATTENTION until the operator terminates it.
    const base = sweepInput(h.config, sku, SWEEP_QUANTITY, TEST_TOKENS.unavailable);
    const input = { ...base, settings: { ...base.settings, attentionTimeoutMs: 600_000 } };
    const workflowId = workflowIdFor(input.orderId);
    const handle = await h.client.workflow.start<typeof orderWorkflow>(WORKFLOW_TYPE, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId,
      args: [input],
    });
    // The query answers once the workflow task that recorded NEEDS_ATTENTION has completed, so that task is the
    // run's last one: the reset below re-runs it, not the first task (which would place the order again: a retry).
    await waitFor('NEEDS_ATTENTION', async () =>
      (await handle.query(statusQuery)).status === 'NEEDS_ATTENTION' ? true : undefined,
    );
    const baseRunId = (await handle.describe()).runId;
    await handle.terminate('operator clean-up');
    // What the reconciliation schedule does with it: stock released, CANCELLED.
    await steps.compensateOrder({
      orderId: input.orderId,
      eventKeyPrefix: `reconcile/${baseRunId}/NEEDS_ATTENTION`,
      status: 'CANCELLED',
      reason: 'workflow_terminated',
    });

    // Reset to the workflow task that recorded NEEDS_ATTENTION (its local activity's marker is the run's last): the
    // new run re-runs that task on an order closed since.
    const history = await handle.fetchHistory();
    const marker = history.events?.filter((e) => e.markerRecordedEventAttributes).at(-1);
    const taskCompleted = marker?.markerRecordedEventAttributes?.workflowTaskCompletedEventId?.toString();
    if (taskCompleted === undefined) throw new Error('no local activity marker in the terminated run');
    await temporalCli(h.config, [
      'workflow',
      'reset',
      '--workflow-id',
      workflowId,
      '--run-id',
      baseRunId,
      '--event-id',
      taskCompleted,
      '--reason',
      'retry',
    ]);
    const runId = (await h.client.workflow.getHandle(workflowId).describe()).runId;
    expect(runId).not.toBe(baseRunId);
    const outcome = await runOutcome(h.client, workflowId, runId);

    expect(outcome).toMatchObject({ result: { status: 'CANCELLED' } });
    const rows = await orderRows(h.db, input.orderId);
    const statuses = rows.events.map((event) => event.status);
    expect(statuses.slice(statuses.indexOf('CANCELLED'))).toEqual(['CANCELLED']); // nothing after the close
    expect(rows.payments.filter((p) => p.status === 'approved')).toEqual([]);
    const order = {
      path: 'reset-closed',
      orderId: input.orderId,
      workflowId,
      baseRunId,
      sku,
      quantity: SWEEP_QUANTITY,
    };
    expect(await checkOrder(world, order, runId, outcome)).toEqual([]);
  });
});

describe('the cancel signal is a boundary', () => {
  test.each(HOSTILE_CANCELS)(
    'when an operator signals cancel with %s, then nothing is stored raw and no workflow task fails',
    async (_label, payload) => {
      const sku = uniqueSku('signal');
      await insertProducts(h.db, [{ sku, stock: SWEEP_INITIAL_STOCK, priceCents: 1000 }]);
      const input = sweepInput(h.config, sku, SWEEP_QUANTITY, TEST_TOKENS.unavailable);
      const handle = await h.client.workflow.start<typeof orderWorkflow>(WORKFLOW_TYPE, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: workflowIdFor(input.orderId),
        args: [input],
      });
      await waitFor('NEEDS_ATTENTION', async () =>
        (await handle.query(statusQuery)).status === 'NEEDS_ATTENTION' ? true : undefined,
      );

      await handle.signal<[unknown]>(cancelSignal.name, payload);
      // Taken in (ignored or normalised): no workflow task pending any more; then a well-formed cancel ends the order
      // if the hostile one did not.
      await waitFor('the signal taken in', async () =>
        (await handle.describe()).raw.pendingWorkflowTask ? undefined : true,
      );
      if ((await handle.describe()).status.name === 'RUNNING') await handle.signal(cancelSignal, { reason: 'cleanup' });
      await expect(handle.result()).resolves.toMatchObject({ status: 'CANCELLED' });

      expect(await failedWorkflowTasks(handle)).toEqual([]);
      const rows = await orderRows(h.db, input.orderId);
      const reason = rows.order?.failure_reason ?? '';
      expect(reason.length).toBeLessThanOrEqual(MAX_REASON_LENGTH);
      expect(isStorableText(reason)).toBe(true);
      for (const event of rows.events) {
        expect(JSON.stringify(event.detail).length).toBeLessThan(2 * MAX_REASON_LENGTH + 500);
      }
      expect(await checkOrderClosed(input.orderId, sku)).toEqual([]);
    },
  );
});

/** The cancelled order's books: nothing held, nothing kept, stock conserved. */
async function checkOrderClosed(orderId: string, sku: string): Promise<string[]> {
  const order: SweepOrder = {
    path: 'hostile-cancel',
    orderId,
    workflowId: workflowIdFor(orderId),
    baseRunId: (await h.client.workflow.getHandle(workflowIdFor(orderId)).describe()).runId,
    sku,
    quantity: SWEEP_QUANTITY,
  };
  return checkOrder(world, order, order.baseRunId, await runOutcome(h.client, order.workflowId, order.baseRunId));
}
