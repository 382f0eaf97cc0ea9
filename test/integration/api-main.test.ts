/**
 * The API entry point as a process (`node --import tsx api/main.ts`): it serves /health, and on SIGTERM it stops
 * accepting connections, lets the in-flight request finish, closes its clients and exits 0.
 */
import { randomUUID } from 'node:crypto';
import { signToken } from '../../lib/auth';
import { orderIdFor } from '../../api/idempotency';
import { createDataConverter } from '../../lib/codec';
import { connectClient } from '../../lib/temporal';
import { workflowIdFor } from '../../workflows/definitions';
import { orderBody, workflowBundle } from '../support/api-helpers';
import { runOrderWorker, testActivities, type RunningWorker } from '../support/saga-helpers';
import { waitFor } from '../support/wait';
import { entryPointEnv, killEntryPoints, spawnEntryPoint } from '../support/processes';
import { insertProducts, testConfig, testDb, testRedis, uniqueSku } from '../support/services';

describe('api/main.ts', () => {
  const config = testConfig({ SHUTDOWN_GRACE: '30s' });
  const db = testDb(config, 2);
  const redis = testRedis(config);
  let worker: RunningWorker | undefined;

  afterAll(async () => {
    killEntryPoints();
    await worker?.stop();
    await Promise.allSettled([db.destroy(), redis.quit()]);
  });

  it('when SIGTERM arrives during a request, then the request completes, new connections are refused and the process exits 0', async () => {
    const api = spawnEntryPoint('api', 'api/main.ts', entryPointEnv(config, { PORT: '0', SHUTDOWN_GRACE: '30s' }));
    await api.waitForLog('api listening');
    const baseUrl = api.url();
    expect(await (await fetch(`${baseUrl}/health`)).json()).toEqual({ status: 'ok' });

    // No worker polls the task queue yet, so the order's reservation (and the request) waits in flight.
    const sku = uniqueSku('shutdown');
    await insertProducts(db, [{ sku, stock: 5 }]);
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    const key = randomUUID();
    const inFlight = fetch(`${baseUrl}/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${signToken(customerId, config.jwtSecret)}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(orderBody([{ sku, quantity: 1 }])),
    });
    const client = await connectClient(config.temporal);
    try {
      await waitFor('the order workflow to start', () =>
        client.workflow
          .getHandle(workflowIdFor(orderIdFor(customerId, key)))
          .describe()
          .then(
            () => true,
            () => undefined,
          ),
      );
    } finally {
      await client.connection.close();
    }

    api.child.kill('SIGTERM');
    await waitFor('the listener to close', () =>
      fetch(`${baseUrl}/health`).then(
        () => undefined,
        () => true,
      ),
    );
    // Encrypted payloads, like api/main.ts and worker/main.ts.
    worker = await runOrderWorker({
      config,
      activities: testActivities(config, db, redis),
      workflowBundle: await workflowBundle(),
      dataConverter: createDataConverter(config),
    });
    const response = await inFlight;
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ status: 'RESERVED', orderId: orderIdFor(customerId, key) });
    expect(await api.exited).toBe(0);
    expect(api.output()).toContain('"msg":"stopped"');
  });
});
