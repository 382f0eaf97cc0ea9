/**
 * The stack one bench run measures, shared by every scenario of the run and torn down at its end (also on Ctrl-C or
 * an error), loopback only:
 * - PostgreSQL: `DATABASE_URL` if it answers (migrated, bench rows removed at the end); else the local server on
 *   127.0.0.1:5432 (user postgres) with a fresh `orderflow_bench_<pid>` database, dropped at the end; else an
 *   embedded PostgreSQL in a temporary directory.
 * - Redis: `REDIS_URL`, else 127.0.0.1:6379, else a `redis-server` from PATH on a free port; every key under a
 *   per-run prefix, deleted at the end.
 * - Temporal: `TEMPORAL_ADDRESS` if it answers (namespace and search attributes ensured), else a dev server started
 *   from the project's CLI (`resolveTemporalCli`) with the project's flags (`devServerArgs`) on free ports and a
 *   temporary database file.
 * - Our processes, spawned from their real entry points on free ports: the order worker, the API and the relay
 *   (`PAYMENT_LATENCY_MS=0`, a very high rate limit, `LOG_LEVEL=warn`, a bench task queue), and the floor worker
 *   (`bench/floor/worker.ts`) on a queue of its own.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import Redis from 'ioredis';
import type { Knex } from 'knex';
import { createDataConverter } from '../../lib/codec';
import { loadConfigOrExit, loadToolingConfig } from '../../lib/config';
import { createDb, migrateLatest } from '../../lib/db';
import {
  createThrowawayDatabase,
  freePort,
  postgresAnswers,
  redisAnswers,
  startRedisServer,
  temporalAnswers,
  waitFor,
} from '../../scripts/services';
import { resolveTemporalCli } from '../../scripts/temporal-cli';
import { devServerArgs, DEV_NAMESPACE } from '../../temporal-config/dev-server';
import { setupNamespace } from '../../temporal-config/setup';
import { spawnService, type ChildService } from './processes';

const LOCAL_REDIS = 'redis://127.0.0.1:6379';

/** Entry point of the floor worker, relative to the repository root. */
const FLOOR_ENTRY = path.join('bench', 'floor', 'worker.ts');
/** Entry point of the minimal worker, relative to the repository root. */
const MINIMAL_ENTRY = path.join('bench', 'minimal', 'worker.ts');

/** Repository root: where the entry points live. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** What the bench can change about the stack, for tuning experiments. */
export interface StackOptions {
  log: (line: string) => void;
  /** Extra `--dynamic-config-value key=value` for a dev server the bench starts (`--dynamic-config=key=value`). */
  dynamicConfig?: string[];
  /** Extra `--sqlite-pragma key=value` for a dev server the bench starts; later ones override the project's. */
  sqlitePragmas?: string[];
  /** Variables added to the environment of the worker, API and relay (`--env=KEY=value`). */
  appEnv?: Record<string, string>;
  /** Extra node flags for the worker, API and relay, e.g. `--cpu-prof` (`--node-arg=...`). */
  nodeArgs?: string[];
  /** Directory whose entry points are spawned (a copy of the repo with an experimental change). @default REPO_ROOT */
  appRoot?: string;
  /**
   * Tells apart two stacks of one run (`--compare`): suffixes their database, task queues and Redis prefix, and
   * prefixes the output lines of their processes. @default none (the run's only stack)
   */
  label?: string;
  /**
   * Another stack whose Temporal this one uses (its CPU counts for both, as it serves both): `--compare` runs both
   * sides on one dev server, so neither gets a warmer or emptier server. Stop this stack before that one.
   */
  temporalOf?: BenchStack;
}

/** The API, relay and worker processes with where they listen. */
export interface AppProcesses {
  apiUrl: string;
  relayUrl: string;
  worker: ChildService;
  api: ChildService;
  relay: ChildService;
}

/** How the run reached Temporal. */
export interface TemporalInfo {
  address: string;
  namespace: string;
  /** `dev server (<cli path>)` or `TEMPORAL_ADDRESS`. */
  source: string;
  client: Client;
}

/** The shared stack of a bench run. */
export interface BenchStack {
  databaseUrl: string;
  /** Name of the database the bench writes to (for `pg_stat_database`). */
  databaseName: string;
  /** True when the database belongs to the bench (created here, dropped at the end). */
  ownDatabase: boolean;
  redisUrl: string;
  redisKeyPrefix: string;
  /** Task queue of the order worker and API the bench spawns. */
  taskQueue: string;
  /** Task queue of the floor worker. */
  floorTaskQueue: string;
  /** Task queue of the minimal worker. */
  minimalTaskQueue: string;
  /** A knex pool for the bench's own bookkeeping (catalog, invariants, statistics). */
  db: Knex;
  /** Where each service came from, for the results file. */
  describe(): Record<string, string>;
  /** Temporal, started or found on first call. */
  temporal(): Promise<TemporalInfo>;
  /** Worker, API and relay, started on first call (after Temporal). */
  app(): Promise<AppProcesses>;
  /** The floor worker, started on first call. */
  floorWorker(): Promise<ChildService>;
  /** The minimal worker, started on first call. */
  minimalWorker(): Promise<ChildService>;
  /**
   * Pids of every process of the stack by name (temporal, worker, api, relay, floor worker, and the PostgreSQL
   * backends serving the bench database as of the last `refreshPostgresPids()`), for CPU accounting.
   */
  pids(): Record<string, number[]>;
  /** Re-reads which PostgreSQL backends serve the bench database (local servers only). */
  refreshPostgresPids(): Promise<void>;
  /** Aborted when a process of ours dies unexpectedly or the run is interrupted; load loops stop on it. */
  signal: AbortSignal;
  abort(reason: string): void;
  /** Stops and removes everything the bench started; safe to call twice. */
  stop(): Promise<void>;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Brings up PostgreSQL and Redis now; Temporal and our processes when a scenario first asks for them. */
export async function startStack(options: StackOptions): Promise<BenchStack> {
  const { log } = options;
  const tooling = loadToolingConfig();
  const appRoot = options.appRoot ?? REPO_ROOT;
  const suffix = options.label === undefined ? '' : `-${options.label.toLowerCase()}`;
  const prefix = options.label === undefined ? '' : `${options.label} `;
  const teardowns: { what: string; run: () => Promise<void> }[] = [];
  /** Every process the bench started, by name, for CPU accounting. */
  const services = new Map<string, ChildService>();
  const described: Record<string, string> = {};
  const controller = new AbortController();
  const abort = (reason: string): void => {
    if (!controller.signal.aborted) controller.abort(new Error(reason));
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    abort('the bench is stopping');
    for (const teardown of teardowns.reverse()) {
      try {
        await teardown.run();
      } catch (error) {
        log(`bench: could not stop ${teardown.what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };

  try {
    // PostgreSQL.
    const databaseName = `orderflow_bench_${process.pid}${suffix.replace('-', '_')}`;
    let databaseUrl: string;
    let ownDatabase = true;
    if (tooling.databaseUrl !== undefined && (await postgresAnswers(tooling.databaseUrl))) {
      databaseUrl = tooling.databaseUrl;
      ownDatabase = false;
      described.postgres = 'DATABASE_URL';
    } else {
      if (tooling.databaseUrl !== undefined) log('bench: DATABASE_URL does not answer; using a database of our own');
      const database = await createThrowawayDatabase(databaseName, { tmpPrefix: 'orderflow-bench-pg-', log });
      if (database.embedded) teardowns.push({ what: 'the embedded PostgreSQL', run: database.stopServer });
      teardowns.push({ what: `database ${databaseName}`, run: database.drop });
      described.postgres = `${database.where}, database ${databaseName}`;
      databaseUrl = database.url;
    }
    const db = createDb({ url: databaseUrl, poolMax: 8 });
    teardowns.push({ what: 'the bench database pool', run: () => db.destroy() });
    // The schema the app under test expects: a copy of the repository (`appRoot`) migrates with its own migrations.
    if (appRoot === REPO_ROOT) {
      await migrateLatest(db);
    } else {
      const appDbModule = (await import(path.join(appRoot, 'lib', 'db'))) as typeof import('../../lib/db');
      const appDb = appDbModule.createDb({ url: databaseUrl, poolMax: 2 });
      try {
        await appDbModule.migrateLatest(appDb);
      } finally {
        await appDb.destroy();
      }
    }
    const current = await db.raw<{ rows: { name: string }[] }>('SELECT current_database() AS name');
    const actualDatabase = current.rows[0]?.name ?? databaseName;

    // Redis.
    let redisUrl: string;
    if (tooling.redisUrl !== undefined) {
      redisUrl = tooling.redisUrl;
      described.redis = 'REDIS_URL';
    } else if (await redisAnswers(LOCAL_REDIS)) {
      redisUrl = LOCAL_REDIS;
      described.redis = '127.0.0.1:6379';
    } else {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-redis-'));
      const server = await startRedisServer(tooling.path, dir, await freePort(), false);
      teardowns.push({
        what: 'redis-server',
        run: async () => {
          await server.teardown();
          rmSync(dir, { recursive: true, force: true });
        },
      });
      redisUrl = server.url;
      described.redis = `redis-server started by the bench (${server.url})`;
    }
    const redisKeyPrefix = `orderflow:bench-${process.pid}${suffix}:`;
    teardowns.push({
      what: 'the bench Redis keys',
      run: async () => {
        const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
        try {
          let cursor = '0';
          do {
            const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisKeyPrefix}*`, 'COUNT', 1000);
            cursor = next;
            if (keys.length > 0) await redis.del(...keys);
          } while (cursor !== '0');
        } finally {
          redis.disconnect();
        }
      },
    });

    const taskQueue = `bench-orders-${process.pid}${suffix}`;
    const floorTaskQueue = `bench-floor-${process.pid}${suffix}`;
    const minimalTaskQueue = `bench-minimal-${process.pid}${suffix}`;

    let temporalPromise: Promise<TemporalInfo> | undefined;
    const startTemporal = async (): Promise<TemporalInfo> => {
      const namespace = DEV_NAMESPACE;
      let address: string;
      let source: string;
      if (tooling.temporalAddress !== undefined && (await temporalAnswers(tooling.temporalAddress))) {
        address = tooling.temporalAddress;
        source = 'TEMPORAL_ADDRESS';
        const connection = await Connection.connect({ address });
        try {
          await setupNamespace(connection, namespace, { log: (line) => log(`bench: temporal: ${line}`) });
        } finally {
          await connection.close();
        }
      } else {
        if (tooling.temporalAddress !== undefined)
          log('bench: TEMPORAL_ADDRESS does not answer; starting a dev server');
        const cli = await resolveTemporalCli({ tooling, progress: log });
        if (cli.source === 'sdk-download') {
          throw new Error('no Temporal CLI: put `temporal` on PATH, set TEMPORAL_CLI_PATH, or install Go');
        }
        const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-temporal-'));
        const port = await freePort();
        const args = [
          ...devServerArgs({
            dbFilename: path.join(dir, 'temporal.db'),
            ip: '127.0.0.1',
            port,
            uiPort: await freePort(),
          }),
          ...(options.sqlitePragmas ?? []).flatMap((pragma) => ['--sqlite-pragma', pragma]),
          ...(options.dynamicConfig ?? []).flatMap((value) => ['--dynamic-config-value', value]),
        ];
        address = `127.0.0.1:${port}`;
        const server = spawnService('temporal', {
          command: cli.path,
          args,
          cwd: dir,
          env: process.env,
          write: () => undefined, // its warnings are kept for the error message, not printed
          onUnexpectedExit: (s, how) => abort(`the Temporal dev server exited (${how}):\n${s.tail()}`),
        });
        services.set('temporal', server);
        teardowns.push({
          what: 'the Temporal dev server',
          run: async () => {
            await server.stop();
            rmSync(dir, { recursive: true, force: true });
          },
        });
        await waitFor('the Temporal dev server', () => temporalAnswers(address), 120_000);
        const extras = [...(options.sqlitePragmas ?? []), ...(options.dynamicConfig ?? [])];
        source = `dev server (${cli.source}: ${cli.path})${extras.length > 0 ? ` + ${extras.join(' ')}` : ''}`;
      }
      const connection = await Connection.connect({ address });
      teardowns.push({ what: 'the bench Temporal connection', run: () => connection.close() });
      described.temporal = source;
      // The payload codec of the API: the floor's client encrypts like the API does.
      const dataConverter = createDataConverter(loadConfigOrExit());
      return { address, namespace, source, client: new Client({ connection, namespace, dataConverter }) };
    };
    const shared = options.temporalOf;
    const temporal = (): Promise<TemporalInfo> => (temporalPromise ??= shared?.temporal() ?? startTemporal());

    const baseEnv = async (overrides: Record<string, string>): Promise<NodeJS.ProcessEnv> => {
      const { address, namespace } = await temporal();
      return {
        ...process.env,
        NODE_ENV: 'development',
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: redisKeyPrefix,
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        TEMPORAL_TASK_QUEUE: taskQueue,
        PAYMENT_LATENCY_MS: '0',
        RATE_LIMIT_PER_MINUTE: '1000000',
        SHUTDOWN_GRACE: '5s',
        METRICS_PORT: String(await freePort()),
        ...options.appEnv,
        ...overrides,
      };
    };
    const spawnEntry = (name: string, entry: string, env: NodeJS.ProcessEnv): ChildService => {
      const service = spawnService(`${prefix}${name}`, {
        args: [...(options.nodeArgs ?? []), '--import', 'tsx', entry],
        cwd: appRoot,
        env,
        onUnexpectedExit: (s, how) => abort(`${s.name} exited unexpectedly (${how}):\n${s.tail()}`),
      });
      teardowns.push({ what: name, run: () => service.stop() });
      services.set(name, service);
      return service;
    };
    /** Waits until a worker polls `queue`: the Temporal side of "ready". */
    const waitForPoller = async (queue: string, service: ChildService): Promise<void> => {
      const { client, namespace } = await temporal();
      await waitFor(
        `${service.name} to poll ${queue}`,
        async () => {
          if (service.hasExited()) throw new Error(`${service.name} exited while starting:\n${service.tail()}`);
          const described = await client.workflowService.describeTaskQueue({
            namespace,
            taskQueue: { name: queue },
            taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
          });
          return (described.pollers?.length ?? 0) > 0;
        },
        120_000,
      );
    };

    let appPromise: Promise<AppProcesses> | undefined;
    const startApp = async (): Promise<AppProcesses> => {
      const [apiPort, relayPort] = [await freePort(), await freePort()];
      const env = await baseEnv({ PORT: String(apiPort), REALTIME_PORT: String(relayPort) });
      log(`bench: starting worker, API and relay (task queue ${taskQueue})`);
      const worker = spawnEntry('worker', 'worker/main.ts', env);
      const api = spawnEntry('api', 'api/main.ts', env);
      const relay = spawnEntry('relay', 'realtime/main.ts', env);
      const apiUrl = `http://127.0.0.1:${apiPort}`;
      const relayUrl = `http://127.0.0.1:${relayPort}`;
      const until = (service: ChildService, check: () => Promise<boolean>) => async (): Promise<boolean> => {
        if (service.hasExited()) throw new Error(`${service.name} exited while starting:\n${service.tail()}`);
        return check();
      };
      await Promise.all([
        waitFor(
          'the API to be ready',
          until(api, () => httpOk(`${apiUrl}/ready`)),
          120_000,
        ),
        waitFor(
          'the relay',
          until(relay, () => httpOk(`${relayUrl}/health`)),
          120_000,
        ),
        waitForPoller(taskQueue, worker),
      ]);
      return { apiUrl, relayUrl, worker, api, relay };
    };

    /**
     * Starts a bench worker (floor, minimal) on its own queue: from the app under test when it has that entry (a copy
     * whose saga changed shape brings a floor of the same shape), else from this repository.
     */
    const startBenchWorker = async (name: string, entry: string, queue: string): Promise<ChildService> => {
      const env = await baseEnv({ TEMPORAL_TASK_QUEUE: queue });
      log(`bench: starting the ${prefix}${name} (task queue ${queue})`);
      const root = existsSync(path.join(appRoot, entry)) ? appRoot : REPO_ROOT;
      const service = spawnService(`${prefix}${name.replace(' ', '-')}`, {
        args: [...(options.nodeArgs ?? []), '--import', 'tsx', entry],
        cwd: root,
        env,
        onUnexpectedExit: (s, how) => abort(`${s.name} exited unexpectedly (${how}):\n${s.tail()}`),
      });
      teardowns.push({ what: `the ${name}`, run: () => service.stop() });
      services.set(name, service);
      await waitForPoller(queue, service);
      return service;
    };
    let floorPromise: Promise<ChildService> | undefined;
    let minimalPromise: Promise<ChildService> | undefined;

    let postgresPids: number[] = [];
    return {
      databaseUrl,
      databaseName: actualDatabase,
      ownDatabase,
      redisUrl,
      redisKeyPrefix,
      taskQueue,
      floorTaskQueue,
      minimalTaskQueue,
      db,
      describe: () => ({
        ...(shared?.describe() ?? {}),
        ...described,
        appRoot: path.relative(REPO_ROOT, appRoot) || '.',
      }),
      temporal,
      app: () => (appPromise ??= startApp()),
      floorWorker: () => (floorPromise ??= startBenchWorker('floor worker', FLOOR_ENTRY, floorTaskQueue)),
      minimalWorker: () => (minimalPromise ??= startBenchWorker('minimal worker', MINIMAL_ENTRY, minimalTaskQueue)),
      pids() {
        const out: Record<string, number[]> = {};
        for (const [name, service] of services) if (!service.hasExited()) out[name] = [service.pid];
        const sharedTemporal = shared?.pids().temporal;
        if (sharedTemporal !== undefined) out.temporal = sharedTemporal;
        if (postgresPids.length > 0) out.postgres = postgresPids;
        return out;
      },
      async refreshPostgresPids() {
        const result = await db.raw<{ rows: { pid: number }[] }>(
          'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
        );
        postgresPids = result.rows.map((row) => row.pid);
      },
      signal: controller.signal,
      abort,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
