/**
 * The stack a chaos run owns, on loopback only, and the handles its faults pull: a fresh database on DATABASE_URL's
 * server (else 127.0.0.1:5432, else an embedded one), a redis-server without persistence (a restart loses the stream),
 * a dev server on a database file (a restart keeps every workflow), and our entry points with secrets of the run's own,
 * each life logging to `<runDir>/logs/<name>.<life>.log`. A process that exits unasked is a crash, started again.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createDataConverter } from '../lib/codec';
import { loadConfig, loadToolingConfig } from '../lib/config';
import { createDb, migrateLatest } from '../lib/db';
import { insertProductsWithLedger } from '../lib/ledger';
import * as toolkit from '../stack';
import type { StackProcess } from '../stack';
import { DEV_NAMESPACE } from '../temporal-config/dev-server';
import type { ChaosOptions } from './options';

/** `application_name` of the harness's own PostgreSQL sessions: the session terminator spares them. */
const HARNESS_APPLICATION_NAME = 'orderflow-chaos-harness';

/** Plenty of most SKUs, and two scarce ones: some orders are REJECTED while others race for the last units. */
export const CHAOS_CATALOG: readonly { sku: string; priceCents: number; stock: number }[] = [
  { sku: 'CHAOS-MUG', priceCents: 1200, stock: 5000 },
  { sku: 'CHAOS-TEE', priceCents: 2500, stock: 5000 },
  { sku: 'CHAOS-CAP', priceCents: 1800, stock: 5000 },
  { sku: 'CHAOS-SOCKS', priceCents: 900, stock: 5000 },
  { sku: 'CHAOS-HOODIE', priceCents: 5400, stock: 5000 },
  { sku: 'CHAOS-POSTER', priceCents: 700, stock: 5000 },
  { sku: 'CHAOS-LAMP', priceCents: 8900, stock: 30 },
  { sku: 'CHAOS-CLOCK', priceCents: 4300, stock: 20 },
];

/** Settings of our processes: short enough that nothing in the run waits on a production-sized timer. */
const CHAOS_APP_SETTINGS: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  DB_POOL_MAX: '5',
  REDIS_KEY_PREFIX: 'orderflow:chaos:',
  TEMPORAL_TASK_QUEUE: 'orders',
  RATE_LIMIT_PER_MINUTE: '100000',
  PAYMENT_LATENCY_MS: '20-80',
  PAYMENT_SLOW_MS: '1500',
  PAYMENT_RETRY_INITIAL_INTERVAL: '200ms',
  PAYMENT_RETRY_BACKOFF: '2',
  PAYMENT_RETRY_MAX_INTERVAL: '1s',
  PAYMENT_RETRY_MAX_ATTEMPTS: '4',
  ATTENTION_TIMEOUT: '60s',
  SHUTDOWN_GRACE: '5s',
};

/** A secret the run must never find in a log, with a label for the report. */
export type Secret = { label: string; value: string };

/** A process that exited without being asked to. */
export type { Crash } from '../stack';

/** What `startChaosStack` needs of the run's options. */
type ChaosStackOptions = Pick<ChaosOptions, 'runDir' | 'workers' | 'keepDatabase'> & { log: (line: string) => void };

/** The stack of one chaos run. */
export type ChaosStack = Awaited<ReturnType<typeof startChaosStack>>;

/** When one of our entry points counts as started. */
type Ready = (proc: StackProcess) => Promise<boolean> | boolean;

/** Starts the whole stack; on failure everything already started is stopped before the error is rethrown. */
export async function startChaosStack(options: ChaosStackOptions) {
  const { log, runDir } = options;
  const logDir = path.join(runDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const tooling = loadToolingConfig();
  const teardowns = new toolkit.Teardowns((line) => log(`chaos: ${line}`));
  const described: Record<string, string> = {};
  const stop = (): Promise<void> => teardowns.stop();
  const processes = toolkit.restartables(
    logDir,
    (line) => log(`chaos: ${line}`),
    () => teardowns.stopped,
  );
  const pathAndHome = { PATH: process.env.PATH, HOME: process.env.HOME };

  try {
    // The workflow bundle first: the longest step, and it needs nothing else. Every worker life loads it.
    const bundlePath = path.join(runDir, 'workflow-bundle.js');
    const bundling = toolkit.startProcess('bundle', {
      detached: true,
      logFile: path.join(logDir, 'bundle.1.log'),
      args: toolkit.nodeEntry(path.join('scripts', 'build-workflow-bundle.ts')).concat(bundlePath),
      env: pathAndHome,
    });
    teardowns.add('the workflow bundler', () => bundling.stop('SIGKILL'));

    // Secrets of this run only: the scan looks for them in every log.
    const jwtSecret = randomBytes(32).toString('base64url');
    const codecKey = randomBytes(32).toString('base64');
    const secrets: Secret[] = [
      { label: 'JWT_SECRET', value: jwtSecret },
      { label: 'PAYLOAD_CODEC_KEYS key material', value: codecKey },
    ];

    const databaseName = `orderflow_chaos_${process.pid}`;
    const givenServer =
      tooling.databaseUrl === undefined ? undefined : toolkit.withDatabase(tooling.databaseUrl, 'postgres');
    if (givenServer !== undefined && !(await toolkit.postgresAnswers(givenServer))) {
      throw new Error('DATABASE_URL does not answer (the run creates its own database on that server)');
    }
    const database = await toolkit.createThrowawayDatabase(databaseName, {
      teardowns,
      ...(givenServer === undefined ? {} : { adminUrl: givenServer }),
      tmpPrefix: 'orderflow-chaos-pg-',
      log,
      keep: options.keepDatabase,
    });
    described.postgres = `${givenServer === undefined ? database.where : "DATABASE_URL's server"}, database ${databaseName}`;
    if (options.keepDatabase) described.postgres += ' (kept)';
    const harnessUrl = new URL(database.url);
    harnessUrl.searchParams.set('application_name', HARNESS_APPLICATION_NAME);
    const db = createDb({ url: harnessUrl.toString(), poolMax: 6 });
    teardowns.add('the harness database pool', () => db.destroy());
    await migrateLatest(db);
    await insertProductsWithLedger(
      db,
      CHAOS_CATALOG.map((p) => ({ sku: p.sku, name: `Chaos ${p.sku}`, priceCents: p.priceCents, stock: p.stock })),
    );

    // Redis of our own, so restarting it disturbs nobody else.
    const redisPort = await toolkit.freePort();
    processes.add('redis', () => toolkit.startRedisServer(tooling.path, path.join(runDir, 'redis'), redisPort, false));
    await processes.start('redis');
    teardowns.add('redis-server', () => processes.stop('redis'));
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    described.redis = `redis-server on ${redisUrl} (no persistence)`;

    const temporal = await toolkit.ownDevServer(tooling, teardowns, { tmpPrefix: 'orderflow-chaos-temporal-', log });
    const temporalAddress = temporal.address;
    described.temporal = `dev server (${temporal.cli.source}: ${temporal.cli.path}), db file in ${temporal.dir}`;
    processes.add('temporal', (spawn) => temporal.start({ ...spawn, env: pathAndHome }));
    teardowns.add('the Temporal dev server', () => processes.stop('temporal'));
    log(`chaos: starting the Temporal dev server on ${temporalAddress}; bundling the workflows`);
    await processes.start('temporal');
    const bundled = await bundling.exited;
    if (bundled !== 'exit 0') throw new Error(`the workflow bundle failed (${bundled}):\n${bundling.tail()}`);

    const [apiPort, relayPort] = [await toolkit.freePort(), await toolkit.freePort()];
    const services = { databaseUrl: database.url, redisUrl, temporalAddress, namespace: DEV_NAMESPACE };
    const env = toolkit.appEnv(services, {
      ...CHAOS_APP_SETTINGS,
      JWT_SECRET: jwtSecret,
      PAYLOAD_CODEC_KEYS: `chaos:${codecKey}`,
      PORT: String(apiPort),
      REALTIME_PORT: String(relayPort),
      CORS_ORIGINS: `http://127.0.0.1:${relayPort}`,
    });
    const config = loadConfig(env);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const relayUrl = `http://127.0.0.1:${relayPort}`;
    /** One of our entry points, started once `ready` holds (failing fast if it exits first). */
    const addEntry = (name: string, entry: string, entryEnv: NodeJS.ProcessEnv, ready: Ready): string => {
      processes.add(name, (spawn) => toolkit.startEntry(name, entry, { ...spawn, env: entryEnv, ready }));
      return name;
    };

    const apps: string[] = [];
    const polling = toolkit.logged('worker polling'); // this very worker, not any poller of the queue
    for (let index = 1; index <= options.workers; index += 1) {
      const workerEnv = { ...env, METRICS_PORT: String(await toolkit.freePort()), WORKFLOW_BUNDLE_PATH: bundlePath };
      apps.push(addEntry(`worker-${index}`, toolkit.ENTRY_POINTS.worker, workerEnv, polling));
    }
    // A restarted API is ready once it listens (it may come back during a Redis or Temporal outage); /ready once,
    // below. The relay's check needs Redis: a crash restart during a Redis outage waits for it.
    apps.push(addEntry('api', toolkit.ENTRY_POINTS.api, env, () => toolkit.httpOk(`${apiUrl}/health`)));
    apps.push(addEntry('relay', toolkit.ENTRY_POINTS.relay, env, toolkit.relayReady(relayUrl)));
    // Added after Temporal, PostgreSQL and Redis, so stopped before them.
    teardowns.add('the workers, API and relay', () =>
      Promise.all(apps.map((name) => processes.stop(name, 'SIGTERM', 8000))),
    );
    log(`chaos: starting ${options.workers} worker(s), the API and the relay`);
    await Promise.all(apps.map((name) => processes.start(name)));
    await toolkit.waitUntil('the API to be ready', toolkit.apiReady(apiUrl), 60_000);

    const dataConverter = createDataConverter(config);
    const namespace = config.temporal.namespace;
    const client = await toolkit.temporalClient(
      temporalAddress,
      namespace,
      dataConverter,
      teardowns,
      'the harness Temporal connection',
    );

    return {
      logDir,
      config,
      /** The harness's own pool (spared by `terminatePostgresSessions`). */
      db,
      apiUrl,
      relayUrl,
      /** With the processes' payload codec, for the operator's signals. */
      client,
      /** JWT_SECRET and the codec key; the load adds the JWTs and payment tokens it uses. */
      secrets,
      workerCount: options.workers,
      crashes: processes.crashes,
      /** Stops process `name` with `signal`, waits `downMs`, starts it again; resolves once it is ready. */
      restart: (name: string, signal: NodeJS.Signals, downMs = 0): Promise<void> =>
        processes.restart(name, signal, downMs),
      /** Terminates every session on the chaos database except the harness's; returns how many. */
      async terminatePostgresSessions(): Promise<number> {
        // The select list runs only on rows the filter kept, so the harness's own sessions are never touched.
        const result = await db.raw<{ rows: { terminated: boolean }[] }>(
          `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
              AND COALESCE(application_name, '') <> ?`,
          [HARNESS_APPLICATION_NAME],
        );
        return result.rows.filter((row) => row.terminated).length;
      },
      /** Where each service came from. */
      describe: (): Record<string, string> => ({ ...described }),
      /** Stops everything started, newest first; safe to call twice. */
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
