/**
 * The worker as a real process (`node --import tsx worker/main.ts`): killed with SIGKILL in the middle of a charge, a
 * new worker finishes the order and nothing is charged twice; stopped with SIGTERM, it drains the charge in flight
 * and exits cleanly.
 */
import { checkInvariants } from '../../lib/invariants';
import { paymentIdempotencyKey } from '../../workflows/definitions';
import {
  createSagaHarness,
  orderInput,
  orderRows,
  recordHistory,
  startOrder,
  stockOf,
  testActivities,
  waitForStatus,
  writeBundleFile,
  type BundleFile,
  type SagaHarness,
} from '../support/saga-helpers';
import { waitFor } from '../support/wait';
import { entryPointEnv, killEntryPoints, spawnEntryPoint, type EntryProcess } from '../support/processes';
import { insertProducts, uniqueSku } from '../support/services';
import { createOrderWorker } from '../../worker/create-worker';

const STOCK = 5;

/** tok_slow takes PAYMENT_SLOW_MS; a charge attempt times out (and is retried elsewhere) after CHARGE_TIMEOUT_MS. */
const SLOW_MS = 1_500;
const CHARGE_TIMEOUT_MS = 2_500;

let h: SagaHarness;
let bundleFile: BundleFile;

beforeAll(async () => {
  h = await createSagaHarness({ worker: false, env: { PAYMENT_SLOW_MS: String(SLOW_MS) } });
  bundleFile = writeBundleFile(h.bundle);
});

afterAll(async () => {
  killEntryPoints();
  await h.close();
  bundleFile?.remove();
});

/** Spawns `npm run worker`'s command on the test services and this suite's queue; resolves once the worker polls. */
async function spawnWorker(): Promise<EntryProcess> {
  const worker = spawnEntryPoint(
    'worker',
    'worker/main.ts',
    entryPointEnv(h.config, {
      PAYMENT_SLOW_MS: String(SLOW_MS),
      METRICS_PORT: '0',
      // No workflow cache, hence no sticky task queue: after a crash the next workflow task goes straight to the
      // normal queue instead of waiting out the dead worker's sticky timeout.
      WORKER_MAX_CACHED_WORKFLOWS: '0',
      WORKFLOW_BUNDLE_PATH: bundleFile.path,
    }),
  );
  await worker.waitForLog('worker polling');
  return worker;
}

/** Waits until the gateway has been called for the order's key (the charge is inside tok_slow's delay). */
async function waitForGatewayCall(orderId: string, attempts = 1): Promise<void> {
  await waitFor(`gateway attempt ${attempts} of ${orderId}`, async () => {
    const row = await h
      .db<{ attempts: number }>('payment_attempts')
      .where('idempotency_key', paymentIdempotencyKey(orderId))
      .first('attempts');
    return row !== undefined && row.attempts >= attempts ? true : undefined;
  });
}

async function newSlowOrder(label: string) {
  const sku = uniqueSku(label);
  await insertProducts(h.db, [{ sku, stock: STOCK, priceCents: 999 }]);
  const input = orderInput(h.config, [{ sku, quantity: 1 }], 'tok_slow', { chargeTimeoutMs: CHARGE_TIMEOUT_MS });
  return { sku, input };
}

test('when the worker process is SIGKILLed mid-charge, then a new worker finishes the order, charged once', async () => {
  const first = await spawnWorker();
  const { sku, input } = await newSlowOrder('crash');
  const handle = await startOrder(h.client, h.config, input);
  await waitForStatus(handle, 'RESERVED', (view) => view.payment.status === 'charging');
  await waitForGatewayCall(input.orderId);

  first.child.kill('SIGKILL');
  await first.exited;
  const second = await spawnWorker();

  await expect(handle.result()).resolves.toEqual({ orderId: input.orderId, status: 'COMPLETED' });
  const rows = await orderRows(h.db, input.orderId);
  // The gateway was called again after the crash (attempts 2), yet the ledger holds exactly one approved charge.
  expect(rows.payments).toEqual([
    { idempotency_key: paymentIdempotencyKey(input.orderId), amount_cents: '999', status: 'approved', attempts: 2 },
  ]);
  expect(rows.reservations.map((r) => r.status)).toEqual(['committed']);
  expect(rows.events.map((e) => [e.seq, e.status])).toEqual([
    [1, 'PENDING'],
    [2, 'RESERVED'],
    [3, 'CHARGING'],
    [4, 'PAID'],
    [5, 'COMPLETED'],
  ]);
  expect(await stockOf(h.db, sku)).toBe(STOCK - 1);
  expect(await checkInvariants(h.db, { initialStock: new Map([[sku, STOCK]]), orderIds: [input.orderId] })).toEqual([]);
  await recordHistory(h.config, handle, 'completed-after-worker-crash');

  // SIGTERM drains: the charge in flight completes before the process exits 0.
  const next = await newSlowOrder('drain');
  const drained = await startOrder(h.client, h.config, next.input);
  await waitForGatewayCall(next.input.orderId);
  second.child.kill('SIGTERM');
  await expect(second.exited).resolves.toBe(0);
  expect(second.output()).toContain('worker drained');
  expect((await orderRows(h.db, next.input.orderId)).payments).toMatchObject([{ status: 'approved', attempts: 1 }]);

  // Whoever polls next finishes the order from where it stopped.
  const worker = await createOrderWorker({
    connection: h.connection,
    config: h.config,
    activities: testActivities(h.config, h.db, h.redis),
    workflowBundle: h.bundle,
    dataConverter: h.dataConverter,
  });
  const result = await worker.runUntil(drained.result());
  expect(result).toEqual({ orderId: next.input.orderId, status: 'COMPLETED' });
  expect((await orderRows(h.db, next.input.orderId)).payments).toMatchObject([{ status: 'approved', attempts: 1 }]);
  expect(
    await checkInvariants(h.db, { initialStock: new Map([[next.sku, STOCK]]), orderIds: [next.input.orderId] }),
  ).toEqual([]);
});
