/**
 * Horizontal scaling as production runs it: two worker processes and two API processes (`node --import tsx
 * worker/main.ts` / `api/main.ts`, configured by environment only) side by side on one Temporal server and one task
 * queue. Orders go in through both APIs; both workers do the work (worker identities in the workflow histories), every
 * order completes exactly once, either API answers for any order, and SIGTERM drains every process cleanly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signToken } from '../../lib/auth';
import { checkInvariants } from '../../lib/invariants';
import { freePort } from '../../stack';
import { entryPointEnv, killEntryPoints, spawnEntryPoint, type EntryProcess } from '../support/processes';
import { createSagaHarness, type SagaHarness } from '../support/saga-helpers';
import { waitFor } from '../support/wait';
import { insertProducts, uniqueSku } from '../support/services';
import { workflowIdFor } from '../../workflows/definitions';

const ORDERS = 16;
const STOCK = 100;
const START_TIMEOUT_MS = 90_000;

let h: SagaHarness;
let bundleDir: string;
const procs: EntryProcess[] = [];
let apiUrls: string[] = [];
let workerIdentities: string[] = [];

/** Spawns `entry` as a deployment would, on the test services and this suite's own queue and prefix. */
function spawnProcess(name: string, entry: string, extra: Record<string, string>): EntryProcess {
  return spawnEntryPoint(
    name,
    entry,
    entryPointEnv(h.config, { DB_POOL_MAX: '4', RATE_LIMIT_PER_MINUTE: '10000', ...extra }),
  );
}

beforeAll(async () => {
  h = await createSagaHarness({ worker: false });
  // Both workers load one prebuilt bundle, as the image does (WORKFLOW_BUNDLE_PATH), instead of bundling twice.
  bundleDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-scaling-'));
  const bundlePath = path.join(bundleDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, h.bundle.code);

  const workers = await Promise.all(
    ['worker-a', 'worker-b'].map(async (name) =>
      spawnProcess(name, 'worker/main.ts', {
        METRICS_PORT: String(await freePort()),
        WORKFLOW_BUNDLE_PATH: bundlePath,
      }),
    ),
  );
  const apiPorts = await Promise.all([freePort(), freePort()]);
  const apis = apiPorts.map((port, index) => spawnProcess(`api-${index}`, 'api/main.ts', { PORT: String(port) }));
  procs.push(...workers, ...apis);
  apiUrls = apiPorts.map((port) => `http://127.0.0.1:${port}`);
  await Promise.all([
    ...workers.map((w) => w.waitForLog('worker polling', START_TIMEOUT_MS)),
    ...apis.map((a) => a.waitForLog('api listening', START_TIMEOUT_MS)),
  ]);
  // The SDK's default worker identity is <pid>@<hostname>: how the histories tell the two workers apart.
  workerIdentities = workers.map((w) => `${w.child.pid}@${os.hostname()}`);
}, START_TIMEOUT_MS + 30_000);

afterAll(async () => {
  killEntryPoints();
  await h?.close();
  if (bundleDir !== undefined) rmSync(bundleDir, { recursive: true, force: true });
});

/** The worker identities the order's workflow and activity tasks were handed to. */
async function identitiesOf(orderId: string): Promise<Set<string>> {
  const history = await h.client.workflow.getHandle(workflowIdFor(orderId)).fetchHistory();
  const identities = new Set<string>();
  for (const event of history.events ?? []) {
    const identity =
      event.workflowTaskStartedEventAttributes?.identity ?? event.activityTaskStartedEventAttributes?.identity;
    if (identity) identities.add(identity);
  }
  return identities;
}

/** The last lines each process logged, to explain a failure that happened inside one of them. */
function processLogs(): string {
  return procs.map((proc) => `--- ${proc.name} ---\n${proc.output().split('\n').slice(-15).join('\n')}`).join('\n');
}

/** Runs `body`; on failure the error carries the processes' recent logs. */
async function withProcessLogs(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof Error) error.message = `${error.message}\n\nProcess logs:\n${processLogs()}`;
    throw error;
  }
}

test(
  'when orders arrive through two APIs, then both workers process them and every order completes once',
  () =>
    withProcessLogs(async () => {
      const sku = uniqueSku('scale');
      await insertProducts(h.db, [{ sku, stock: STOCK, priceCents: 700 }]);
      const token = signToken('scaling-customer', h.config.jwtSecret);
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

      // Alternate between the two API processes, all at once, as a load balancer would.
      const created = await Promise.all(
        Array.from({ length: ORDERS }, async (_, index) => {
          const response = await fetch(`${apiUrls[index % 2]}/orders`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ items: [{ sku, quantity: 1 }], payment: { token: 'tok_ok' } }),
          });
          const body = (await response.json()) as { orderId: string; status: string };
          return { status: response.status, body };
        }),
      );
      expect(created.map(({ status, body }) => [status, body.status])).toEqual(Array(ORDERS).fill([201, 'RESERVED']));
      const orderIds = created.map(({ body }) => body.orderId);

      // Every order completes; asked through the *other* API than the one that took it (the replicas share no state).
      await waitFor(
        'every order COMPLETED',
        async () => {
          const statuses = await Promise.all(
            orderIds.map(async (orderId, index) => {
              const response = await fetch(`${apiUrls[(index + 1) % 2]}/orders/${orderId}`, { headers });
              return ((await response.json()) as { status: string }).status;
            }),
          );
          return statuses.every((status) => status === 'COMPLETED') ? true : undefined;
        },
        60_000,
      );

      const seen = new Set<string>();
      for (const orderId of orderIds) for (const identity of await identitiesOf(orderId)) seen.add(identity);
      // Both workers took tasks, and nobody else did.
      expect([...seen].sort()).toEqual([...workerIdentities].sort());

      const stock = await h.db('products').where({ sku }).first<{ stock: number }>('stock');
      expect(stock.stock).toBe(STOCK - ORDERS);
      expect(await checkInvariants(h.db, { initialStock: new Map([[sku, STOCK]]), orderIds })).toEqual([]);
    }),
  120_000,
);

test('when every process gets SIGTERM, then each drains and exits 0', async () => {
  for (const proc of procs) proc.child.kill('SIGTERM');
  const codes = await Promise.all(procs.map(async (proc) => [proc.name, await proc.exited] as const));
  expect(codes).toEqual(procs.map((proc) => [proc.name, 0]));
  for (const proc of procs.filter((p) => p.name.startsWith('worker')))
    expect(proc.output()).toContain('worker drained');
}, 60_000);
