/**
 * The API entry point as a process (`node --import tsx api/main.ts`): it serves /health, and on SIGTERM it stops
 * accepting connections, lets the in-flight request finish, closes its clients and exits 0.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { signToken } from '../../api/auth';
import { orderIdFor } from '../../api/idempotency';
import { createDataConverter } from '../../lib/codec';
import { connectClient } from '../../lib/temporal';
import { workflowIdFor } from '../../workflows/definitions';
import { orderBody, startOrderWorker, waitFor, type RunningWorker } from '../support/api-helpers';
import { insertProducts, testConfig, testDb, testRedis, uniqueSku } from '../support/services';

const root = path.resolve(__dirname, '..', '..');

describe('api/main.ts', () => {
  const config = testConfig({ SHUTDOWN_GRACE: '30s' });
  const db = testDb(config, 2);
  const redis = testRedis(config);
  let child: ChildProcessWithoutNullStreams | undefined;
  let worker: RunningWorker | undefined;
  let stderr = '';

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await worker?.stop();
    await Promise.allSettled([db.destroy(), redis.quit()]);
  });

  it('when SIGTERM arrives during a request, then the request completes, new connections are refused and the process exits 0', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        PORT: '0',
        DATABASE_URL: config.databaseUrl,
        REDIS_URL: config.redisUrl,
        REDIS_KEY_PREFIX: config.redisKeyPrefix,
        TEMPORAL_ADDRESS: config.temporal.address,
        TEMPORAL_NAMESPACE: config.temporal.namespace,
        TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
        JWT_SECRET: config.jwtSecret,
        SHUTDOWN_GRACE: '30s',
      },
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    const baseUrl = await waitFor('the api to listen', async () => {
      const match = /"msg":"api listening","url":"(http:\/\/[^"]+)"/.exec(stderr);
      return Promise.resolve(match?.[1]);
    });
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

    child.kill('SIGTERM');
    await waitFor('the listener to close', () =>
      fetch(`${baseUrl}/health`).then(
        () => undefined,
        () => true,
      ),
    );
    // Encrypted payloads, like api/main.ts and worker/main.ts.
    worker = await startOrderWorker(config, db, redis, { dataConverter: createDataConverter(config) });
    const response = await inFlight;
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ status: 'RESERVED', orderId: orderIdFor(customerId, key) });
    expect(await exited).toBe(0);
    expect(stderr).toContain('"msg":"stopped"');
  });
});
