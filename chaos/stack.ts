/**
 * The stack a chaos run owns from start to end, on loopback only, and the handles its faults pull:
 * - PostgreSQL: a fresh `orderflow_chaos_<pid>` database on the server of `DATABASE_URL` (else 127.0.0.1:5432, else
 *   an embedded server in a temporary directory), migrated, with a chaos catalog; dropped at the end.
 * - Redis: a `redis-server` of its own on a free port (no persistence, so a restart loses the stream).
 * - Temporal: a dev server from the resolved CLI with the project's flags (`devServerArgs`) and a file-backed
 *   database in a temporary directory, so a restart on the same file keeps every workflow.
 * - Our processes from their real entry points: N workers (one prebuilt workflow bundle), the API and the relay, with
 *   secrets of the run's own (a random JWT_SECRET and payload codec key) and short payment retry and attention
 *   timeouts. Each writes its log to `<runDir>/logs/<name>.<life>.log`.
 * A process that exits without being asked is recorded as a crash and started again, so the run goes on.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Knex } from 'knex';
import { createDataConverter } from '../lib/codec';
import { loadConfig, loadToolingConfig, type Config } from '../lib/config';
import { createDb, migrateLatest } from '../lib/db';
import { insertProductsWithLedger } from '../lib/ledger';
import * as toolkit from '../stack';
import type { StackProcess } from '../stack';
import { DEV_NAMESPACE } from '../temporal-config/dev-server';

/** `application_name` of the harness's own PostgreSQL sessions: the session terminator spares them. */
export const HARNESS_APPLICATION_NAME = 'orderflow-chaos-harness';

/** One product of the chaos catalog. */
export interface CatalogProduct {
  sku: string;
  priceCents: number;
  stock: number;
}

/**
 * Plenty of stock for most SKUs, and two scarce ones that run out during the run, so some orders are REJECTED for
 * insufficient stock while others race for the last units.
 */
export const CHAOS_CATALOG: readonly CatalogProduct[] = [
  { sku: 'CHAOS-MUG', priceCents: 1200, stock: 5000 },
  { sku: 'CHAOS-TEE', priceCents: 2500, stock: 5000 },
  { sku: 'CHAOS-CAP', priceCents: 1800, stock: 5000 },
  { sku: 'CHAOS-SOCKS', priceCents: 900, stock: 5000 },
  { sku: 'CHAOS-HOODIE', priceCents: 5400, stock: 5000 },
  { sku: 'CHAOS-POSTER', priceCents: 700, stock: 5000 },
  { sku: 'CHAOS-LAMP', priceCents: 8900, stock: 30 },
  { sku: 'CHAOS-CLOCK', priceCents: 4300, stock: 20 },
];

/** Settings the processes run with: short enough that nothing in the run waits on a production-sized timer. */
export const CHAOS_APP_SETTINGS: Readonly<Record<string, string>> = {
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
export interface Secret {
  label: string;
  value: string;
}

/** A process that exited without being asked to. */
export interface Crash {
  name: string;
  how: string;
  at: number;
  tail: string;
}

/** The stack of one chaos run. */
export interface ChaosStack {
  runDir: string;
  logDir: string;
  /** The configuration every process of ours parses (same environment), for the harness's own clients. */
  config: Config;
  databaseName: string;
  /** The harness's own pool on the chaos database (sessions named HARNESS_APPLICATION_NAME). */
  db: Knex;
  apiUrl: string;
  relayUrl: string;
  temporalAddress: string;
  /** A Temporal client with the processes' payload codec (ops signals). */
  client: Client;
  /** JWT_SECRET and the codec key material; the load adds the JWTs and payment tokens it uses. */
  secrets: Secret[];
  workerCount: number;
  crashes: Crash[];
  /** SIGKILLs worker `index` (0-based) and starts it again; resolves once it polls. */
  killWorker(index: number): Promise<void>;
  /** Stops the relay (`signal`), starts it again; resolves once it reads the stream. */
  restartRelay(signal: NodeJS.Signals): Promise<void>;
  /** Stops redis-server, waits `downMs`, starts it again on the same port (empty). */
  restartRedis(downMs: number): Promise<void>;
  /** Stops the dev server, waits `downMs`, starts it again on the same database file and ports. */
  restartTemporal(downMs: number): Promise<void>;
  /** Terminates every session on the chaos database except the harness's; returns how many. */
  terminatePostgresSessions(): Promise<number>;
  /** Where each service came from. */
  describe(): Record<string, string>;
  /** Stops everything started, in reverse order; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of `startChaosStack`. */
export interface ChaosStackOptions {
  runDir: string;
  workers: number;
  keepDatabase: boolean;
  log: (line: string) => void;
}

/** A restartable process: the current incarnation and how to start the next one. */
interface Slot {
  name: string;
  life: number;
  current: StackProcess | undefined;
  start(): Promise<StackProcess>;
}

/** Starts the whole stack; on failure everything already started is stopped before the error is rethrown. */
export async function startChaosStack(options: ChaosStackOptions): Promise<ChaosStack> {
  const { log, runDir } = options;
  const logDir = path.join(runDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const tooling = loadToolingConfig();
  const teardowns = new toolkit.Teardowns((line) => log(`chaos: ${line}`));
  const described: Record<string, string> = {};
  const crashes: Crash[] = [];
  const stop = (): Promise<void> => teardowns.stop();
  /** Output of a life of a process to `<logDir>/<name>.<life>.log`; a process group of its own (see main.ts). */
  const logged = (slot: { name: string; life: number }) => ({
    detached: true,
    logFile: path.join(logDir, `${slot.name}.${slot.life}.log`),
  });

  try {
    // The workflow bundle first: the longest step, and it needs nothing else. Every worker incarnation loads it.
    const bundlePath = path.join(runDir, 'workflow-bundle.js');
    const bundling = toolkit.startProcess('bundle', {
      ...logged({ name: 'bundle', life: 1 }),
      args: toolkit.nodeEntry(path.join('scripts', 'build-workflow-bundle.ts')).concat(bundlePath),
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    teardowns.add('the workflow bundler', () => bundling.stop('SIGKILL'));

    // Secrets of this run only: the scan looks for them in every log.
    const jwtSecret = randomBytes(32).toString('base64url');
    const codecKey = randomBytes(32).toString('base64');
    const secrets: Secret[] = [
      { label: 'JWT_SECRET', value: jwtSecret },
      { label: 'PAYLOAD_CODEC_KEYS key material', value: codecKey },
    ];

    // PostgreSQL: a database of our own on the given (or local) server.
    const databaseName = `orderflow_chaos_${process.pid}`;
    let givenServer: string | undefined;
    if (tooling.databaseUrl !== undefined) {
      givenServer = toolkit.withDatabase(tooling.databaseUrl, 'postgres');
      if (!(await toolkit.postgresAnswers(givenServer))) {
        throw new Error('DATABASE_URL does not answer (the run creates its own database on that server)');
      }
    }
    const database = await toolkit.createThrowawayDatabase(databaseName, {
      ...(givenServer === undefined ? {} : { adminUrl: givenServer }),
      tmpPrefix: 'orderflow-chaos-pg-',
      log,
    });
    teardowns.add('the embedded PostgreSQL, if one was started', database.stopServer);
    described.postgres = `${givenServer === undefined ? database.where : "DATABASE_URL's server"}, database ${databaseName}`;
    if (!options.keepDatabase) {
      teardowns.add(`database ${databaseName}`, database.drop);
    } else {
      described.postgres += ' (kept)';
    }
    const databaseUrl = database.url;
    const harnessUrl = new URL(databaseUrl);
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
    const redisDir = path.join(runDir, 'redis');
    let redis = await toolkit.startRedisServer(tooling.path, redisDir, redisPort, false);
    const redisUrl = redis.url;
    teardowns.add('redis-server', () => redis.stop());
    described.redis = `redis-server on ${redisUrl} (no persistence)`;

    // Temporal dev server on a file-backed database, and the workflow bundle, built meanwhile.
    const cli = await toolkit.resolveCliBinary(tooling, log);
    const temporalDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-chaos-temporal-'));
    teardowns.add('the Temporal database file', () => rmSync(temporalDir, { recursive: true, force: true }));
    const temporalPort = await toolkit.freePort();
    const temporalAddress = `127.0.0.1:${temporalPort}`;
    const temporalServer = {
      dbFilename: path.join(temporalDir, 'temporal.db'),
      port: temporalPort,
      uiPort: await toolkit.freePort(),
    };
    described.temporal = `dev server (${cli.source}: ${cli.path}), db file in ${temporalDir}`;

    const slots = new Map<string, Slot>();
    const startSlot = async (slot: Slot): Promise<void> => {
      slot.life += 1;
      slot.current = await slot.start();
    };
    const onUnexpectedExit = (proc: StackProcess, how: string): void => {
      if (teardowns.stopped) return;
      crashes.push({ name: proc.name, how, at: Date.now(), tail: proc.tail(15) });
      log(`chaos: ${proc.name} exited on its own (${how}); starting it again`);
      const slot = slots.get(proc.name);
      if (slot !== undefined && slot.current === proc) {
        setTimeout(() => {
          if (!teardowns.stopped)
            startSlot(slot).catch((error: unknown) => log(`chaos: could not restart ${slot.name}: ${String(error)}`));
        }, 1000);
      }
    };

    const temporalSlot: Slot = {
      name: 'temporal',
      life: 0,
      current: undefined,
      start: () =>
        toolkit.startDevServer(cli.path, temporalServer, {
          ...logged(temporalSlot),
          onUnexpectedExit,
          env: { PATH: process.env.PATH, HOME: process.env.HOME },
        }),
    };
    slots.set(temporalSlot.name, temporalSlot);
    teardowns.add('the Temporal dev server', async () => temporalSlot.current?.stop());

    log(`chaos: starting the Temporal dev server on ${temporalAddress}; bundling the workflows`);
    await startSlot(temporalSlot);
    const bundled = await bundling.exited;
    if (bundled !== 'exit 0') throw new Error(`the workflow bundle failed (${bundled}):\n${bundling.tail()}`);

    // Our processes.
    const [apiPort, relayPort] = [await toolkit.freePort(), await toolkit.freePort()];
    const services = { databaseUrl, redisUrl, temporalAddress, namespace: DEV_NAMESPACE };
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
    /** A slot for one of our entry points: spawned with `slotEnv`, started once `ready` holds (fails fast on exit). */
    const appSlot = (
      name: string,
      file: string,
      slotEnv: NodeJS.ProcessEnv,
      ready: (proc: StackProcess) => Promise<boolean> | boolean,
    ): Slot => {
      const slot: Slot = {
        name,
        life: 0,
        current: undefined,
        start: () => toolkit.startEntry(name, file, { ...logged(slot), onUnexpectedExit, env: slotEnv, ready }),
      };
      slots.set(name, slot);
      return slot;
    };

    const workerSlots: Slot[] = [];
    for (let index = 0; index < options.workers; index += 1) {
      const slotEnv = { ...env, METRICS_PORT: String(await toolkit.freePort()), WORKFLOW_BUNDLE_PATH: bundlePath };
      const ready = toolkit.logged('worker polling'); // this very worker, not any poller of the queue
      workerSlots.push(appSlot(`worker-${index + 1}`, toolkit.ENTRY_POINTS.worker, slotEnv, ready));
    }
    // The API is ready for a restart once it listens (it may come back during a Redis or Temporal outage); /ready
    // once, below. The relay's check needs Redis: a crash restart during a Redis outage waits for it.
    const apiSlot = appSlot('api', toolkit.ENTRY_POINTS.api, env, () => toolkit.httpOk(`${apiUrl}/health`));
    const relaySlot = appSlot('relay', toolkit.ENTRY_POINTS.relay, env, toolkit.relayReady(relayUrl));
    // Stopped before Temporal, PostgreSQL and Redis (pushed later, so they run earlier in the reversed teardown).
    teardowns.add('the workers, API and relay', () =>
      Promise.all([...workerSlots, apiSlot, relaySlot].map(async (slot) => slot.current?.stop('SIGTERM', 8000))),
    );
    log(`chaos: starting ${options.workers} worker(s), the API and the relay`);
    await Promise.all([...workerSlots.map(startSlot), startSlot(apiSlot), startSlot(relaySlot)]);
    await toolkit.waitUntil('the API to be ready', toolkit.apiReady(apiUrl), 60_000);

    const connection = await Connection.connect({ address: temporalAddress });
    teardowns.add('the harness Temporal connection', () => connection.close());
    const client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: createDataConverter(config),
    });

    const restart = async (slot: Slot, signal: NodeJS.Signals, downMs = 0): Promise<void> => {
      await slot.current?.stop(signal, 8000);
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      if (!teardowns.stopped) await startSlot(slot);
    };

    return {
      runDir,
      logDir,
      config,
      databaseName,
      db,
      apiUrl,
      relayUrl,
      temporalAddress,
      client,
      secrets,
      workerCount: options.workers,
      crashes,
      async killWorker(index) {
        const slot = workerSlots[index];
        if (slot === undefined) throw new Error(`no worker ${index}`);
        await restart(slot, 'SIGKILL');
      },
      restartRelay: (signal) => restart(relaySlot, signal),
      async restartRedis(downMs) {
        await redis.stop();
        await new Promise((resolve) => setTimeout(resolve, downMs));
        if (!teardowns.stopped) redis = await toolkit.startRedisServer(tooling.path, redisDir, redisPort, false);
      },
      restartTemporal: (downMs) => restart(temporalSlot, 'SIGTERM', downMs),
      async terminatePostgresSessions() {
        // The select list runs only on rows the filter kept, so the harness's own sessions are never touched.
        const result = await db.raw<{ rows: { terminated: boolean }[] }>(
          `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
              AND COALESCE(application_name, '') <> ?`,
          [HARNESS_APPLICATION_NAME],
        );
        return result.rows.filter((row) => row.terminated).length;
      },
      describe: () => ({ ...described }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
