/**
 * The relay and Redis going away mid-order: a relay process killed and started again, and a Redis restarted
 * without persistence. Either way a client that reconnects and subscribes with its lastSeq ends with every status
 * of its order, and the relay itself never crashes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../lib/config';
import { publishOrderEvent } from '../../lib/events';
import { createRedis } from '../../lib/redis';
import { freePort, redisAnswers, stopChild, waitUntil as waitFor } from '../../stack';
import { entryPointEnv, spawnEntryPoint } from '../support/processes';
import { testConfig } from '../support/services';
import { commitStatus, createOrder, HAPPY_PATH, recordStatus, startRelay, useRelays } from './realtime.support';
import { until } from '../support/wait';

async function health(url: string): Promise<{ status: string; stream: { connected: boolean } } | undefined> {
  try {
    const response = await fetch(`${url}/health`);
    return response.ok ? ((await response.json()) as { status: string; stream: { connected: boolean } }) : undefined;
  } catch {
    return undefined;
  }
}

/** `npm run realtime` as a child process on `port`; resolves once it reads the events stream. */
async function spawnRelay(config: Config, port: number): Promise<ChildProcess> {
  const relay = spawnEntryPoint(
    `relay on port ${port}`,
    'realtime/main.ts',
    entryPointEnv(config, { LOG_LEVEL: 'warn', REALTIME_PORT: String(port), SHUTDOWN_GRACE: '5s' }),
  );
  await waitFor(
    `relay process on port ${port}`,
    async () => {
      if (relay.child.exitCode !== null)
        throw new Error(`relay exited with ${relay.child.exitCode}: ${relay.output()}`);
      return (await health(`http://127.0.0.1:${port}`))?.stream.connected === true;
    },
    20_000,
  );
  return relay.child;
}

describe('realtime relay across restarts', () => {
  const h = useRelays(0);
  const children: ChildProcess[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) await stopChild(child);
  });

  test('when the relay process is killed mid-order and started again, then a reconnecting client ends with every status once', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const customer = `kim-${randomUUID()}`;
    const orderId = await createOrder(h.db, customer);
    children.push(await spawnRelay(h.config, port));
    const client = await h.client({ url }, customer, 'customer', { reconnection: true, resubscribe: [orderId] });

    await recordStatus(h.db, h.redis, h.config, orderId, 'PENDING');
    await recordStatus(h.db, h.redis, h.config, orderId, 'RESERVED');
    await until('RESERVED arrives', () => client.statuses(orderId).length === 2);

    const first = children.pop();
    first?.kill('SIGKILL');
    await until('the client notices', () => !client.socket.connected);
    await recordStatus(h.db, h.redis, h.config, orderId, 'CHARGING');
    await recordStatus(h.db, h.redis, h.config, orderId, 'PAID');

    children.push(await spawnRelay(h.config, port));
    await until('the client reconnects and catches up', () => client.statuses(orderId).length === 4);
    await recordStatus(h.db, h.redis, h.config, orderId, 'COMPLETED');

    await until('COMPLETED arrives', () => client.statuses(orderId).includes('COMPLETED'));
    expect(client.statuses(orderId)).toEqual(HAPPY_PATH);
    const seqs = client.of(orderId).map((event) => event.seq);
    expect([...new Set(seqs)]).toEqual([1, 2, 3, 4, 5]);
  });

  test('when the relay process gets SIGTERM, then it disconnects its clients and exits 0', async () => {
    const port = await freePort();
    const child = await spawnRelay(h.config, port);
    const client = await h.client({ url: `http://127.0.0.1:${port}` }, `lee-${randomUUID()}`);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await until('the client is disconnected', () => !client.socket.connected);
  });

  test('when Redis is down as the relay process starts, then it logs one warning, keeps serving and reads the stream once Redis is up', async () => {
    const [port, redisPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${port}`;
    const relay = spawnEntryPoint(
      `relay on port ${port}`,
      'realtime/main.ts',
      entryPointEnv(h.config, {
        LOG_LEVEL: 'info',
        REALTIME_PORT: String(port),
        SHUTDOWN_GRACE: '5s',
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      }),
    );
    children.push(relay.child);
    const warning = await relay.waitForLog(
      'redis unavailable; retrying in the background (is Redis running? check REDIS_URL)',
    );
    expect(warning).toMatchObject({ level: 'warn', redis: `redis://127.0.0.1:${redisPort}/0` });
    expect(String(warning.error)).toContain('ECONNREFUSED');
    await until('the relay serves /health while Redis is down', async () => (await health(url))?.status === 'ok');
    expect((await health(url))?.stream.connected).toBe(false);

    const redisServer = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    children.push(redisServer);
    await relay.waitForLog('reading the events stream', 20_000);
    await until('the stream is read', async () => (await health(url))?.stream.connected === true);
    expect(relay.child.exitCode).toBeNull();
    expect(relay.logs.filter((line) => String(line.msg).startsWith('redis unavailable'))).toHaveLength(1);
    expect(relay.output()).not.toContain('Unhandled error event');
    expect(relay.output()).not.toContain('MaxRetriesPerRequestError');
  });

  test('when Redis restarts mid-order, then the relay survives, connected clients catch up and a reconnecting client gets the terminal event', async () => {
    const redisPort = await freePort();
    const startRedis = async (): Promise<ChildProcess> => {
      const child = spawn(
        'redis-server',
        ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      );
      await waitFor('test redis-server', () => redisAnswers(`redis://127.0.0.1:${redisPort}`), 10_000);
      return child;
    };
    let redisServer = await startRedis();
    children.push(redisServer);
    const ownConfig = testConfig({ REDIS_URL: `redis://127.0.0.1:${redisPort}` });
    const publisher = createRedis(ownConfig.redisUrl, { maxRetriesPerRequest: 0 });
    publisher.on('error', () => undefined);
    const relay = await startRelay(ownConfig, h.db);
    try {
      const customer = `max-${randomUUID()}`;
      const orderId = await createOrder(h.db, customer);
      const stays = await h.client(relay, customer);
      const leaves = await h.client(relay, customer);
      expect(await stays.subscribe(orderId)).toEqual({ ok: true });
      expect(await leaves.subscribe(orderId)).toEqual({ ok: true });
      await recordStatus(h.db, publisher, ownConfig, orderId, 'PENDING');
      await recordStatus(h.db, publisher, ownConfig, orderId, 'RESERVED');
      await until(
        'both clients have RESERVED',
        () => stays.of(orderId).length === 2 && leaves.of(orderId).length === 2,
      );

      redisServer.kill('SIGKILL');
      await until('the relay notices Redis is gone', async () => (await health(relay.url))?.stream.connected === false);
      leaves.close();
      // The status activity commits, then fails to publish: only PostgreSQL has these.
      for (const status of ['CHARGING', 'PAID', 'COMPLETED'] as const) {
        const event = await commitStatus(h.db, orderId, status);
        await expect(publishOrderEvent(publisher, ownConfig.redisKeyPrefix, event)).rejects.toThrow();
      }
      expect((await health(relay.url))?.status).toBe('ok');

      redisServer = await startRedis();
      children.push(redisServer);
      await until('connected client catches up from PostgreSQL', () => stays.statuses(orderId).length === 5, 15_000);
      expect(stays.statuses(orderId)).toEqual(HAPPY_PATH);
      expect(stays.of(orderId).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);

      const back = await h.client(relay, customer);
      expect(await back.subscribe(orderId, 2)).toEqual({ ok: true });
      expect(back.statuses(orderId)).toEqual(['CHARGING', 'PAID', 'COMPLETED']);

      // Live delivery resumed on the new (empty) stream.
      const next = await createOrder(h.db, customer);
      await recordStatus(h.db, publisher, ownConfig, next, 'PENDING');
      await until('a new event arrives live', () => stays.of(next).length === 1);
    } finally {
      publisher.disconnect();
      await relay.close();
    }
  });
});
