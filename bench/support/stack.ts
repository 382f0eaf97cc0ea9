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
import * as toolkit from '../../stack';
import type { StackProcess } from '../../stack';
import { DEV_NAMESPACE } from '../../temporal-config/dev-server';

/** Entry point of the floor worker, relative to the repository root. */
const FLOOR_ENTRY = path.join('bench', 'floor', 'worker.ts');
/** Entry point of the minimal worker, relative to the repository root. */
const MINIMAL_ENTRY = path.join('bench', 'minimal', 'worker.ts');

/** Repository root: where the entry points live. */
export const REPO_ROOT = toolkit.REPO_ROOT;

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
  worker: StackProcess;
  api: StackProcess;
  relay: StackProcess;
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
  floorWorker(): Promise<StackProcess>;
  /** The minimal worker, started on first call. */
  minimalWorker(): Promise<StackProcess>;
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

/** Brings up PostgreSQL and Redis now; Temporal and our processes when a scenario first asks for them. */
export async function startStack(options: StackOptions): Promise<BenchStack> {
  const { log } = options;
  const tooling = loadToolingConfig();
  const appRoot = options.appRoot ?? REPO_ROOT;
  const suffix = options.label === undefined ? '' : `-${options.label.toLowerCase()}`;
  const prefix = options.label === undefined ? '' : `${options.label} `;
  const teardowns = new toolkit.Teardowns((line) => log(`bench: ${line}`));
  /** Every process the bench started, by name, for CPU accounting. */
  const services = new Map<string, StackProcess>();
  const described: Record<string, string> = {};
  const controller = new AbortController();
  const abort = (reason: string): void => {
    if (!controller.signal.aborted) controller.abort(new Error(reason));
  };
  const stop = async (): Promise<void> => {
    abort('the bench is stopping');
    await teardowns.stop();
  };

  try {
    // PostgreSQL.
    const databaseName = `orderflow_bench_${process.pid}${suffix.replace('-', '_')}`;
    let databaseUrl: string;
    let ownDatabase = true;
    if (tooling.databaseUrl !== undefined && (await toolkit.postgresAnswers(tooling.databaseUrl))) {
      databaseUrl = tooling.databaseUrl;
      ownDatabase = false;
      described.postgres = 'DATABASE_URL';
    } else {
      if (tooling.databaseUrl !== undefined) log('bench: DATABASE_URL does not answer; using a database of our own');
      const database = await toolkit.createThrowawayDatabase(databaseName, { tmpPrefix: 'orderflow-bench-pg-', log });
      teardowns.add('the embedded PostgreSQL, if one was started', database.stopServer);
      teardowns.add(`database ${databaseName}`, database.drop);
      described.postgres = `${database.where}, database ${databaseName}`;
      databaseUrl = database.url;
    }
    const db = createDb({ url: databaseUrl, poolMax: 8 });
    teardowns.add('the bench database pool', () => db.destroy());
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
    const redis = await toolkit.findOrStartRedis(tooling.path, {
      url: tooling.redisUrl,
      tmpPrefix: 'orderflow-bench-redis-',
    });
    teardowns.add('redis-server', redis.stop);
    const redisUrl = redis.url;
    described.redis =
      tooling.redisUrl !== undefined
        ? 'REDIS_URL'
        : redis.started
          ? `redis-server started by the bench (${redisUrl})`
          : '127.0.0.1:6379';
    const redisKeyPrefix = `orderflow:bench-${process.pid}${suffix}:`;
    teardowns.add('the bench Redis keys', async () => {
      const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      try {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${redisKeyPrefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await client.del(...keys);
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
    });

    const taskQueue = `bench-orders-${process.pid}${suffix}`;
    const floorTaskQueue = `bench-floor-${process.pid}${suffix}`;
    const minimalTaskQueue = `bench-minimal-${process.pid}${suffix}`;

    let temporalPromise: Promise<TemporalInfo> | undefined;
    const startTemporal = async (): Promise<TemporalInfo> => {
      const namespace = DEV_NAMESPACE;
      let address: string;
      let source: string;
      if (tooling.temporalAddress !== undefined && (await toolkit.temporalAnswers(tooling.temporalAddress))) {
        address = tooling.temporalAddress;
        source = 'TEMPORAL_ADDRESS';
        await toolkit.prepareNamespace(address, namespace, (line) => log(`bench: temporal: ${line}`));
      } else {
        if (tooling.temporalAddress !== undefined)
          log('bench: TEMPORAL_ADDRESS does not answer; starting a dev server');
        const cli = await toolkit.resolveCliBinary(tooling, log);
        const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-temporal-'));
        teardowns.add('the Temporal database file', () => rmSync(dir, { recursive: true, force: true }));
        const port = await toolkit.freePort();
        address = `127.0.0.1:${port}`;
        const extraArgs = [
          ...(options.sqlitePragmas ?? []).flatMap((pragma) => ['--sqlite-pragma', pragma]),
          ...(options.dynamicConfig ?? []).flatMap((value) => ['--dynamic-config-value', value]),
        ];
        // Its warnings are kept for the error message, not printed.
        const server = await toolkit.startDevServer(
          cli.path,
          { dbFilename: path.join(dir, 'temporal.db'), port, uiPort: await toolkit.freePort(), extraArgs },
          {
            cwd: dir,
            env: process.env,
            onUnexpectedExit: (s, how) => abort(`the Temporal dev server exited (${how}):\n${s.tail()}`),
          },
        );
        services.set('temporal', server);
        teardowns.add('the Temporal dev server', () => server.stop());
        const extras = [...(options.sqlitePragmas ?? []), ...(options.dynamicConfig ?? [])];
        source = `dev server (${cli.source}: ${cli.path})${extras.length > 0 ? ` + ${extras.join(' ')}` : ''}`;
      }
      const connection = await Connection.connect({ address });
      teardowns.add('the bench Temporal connection', () => connection.close());
      described.temporal = source;
      // The payload codec of the API: the floor's client encrypts like the API does.
      const dataConverter = createDataConverter(loadConfigOrExit());
      return { address, namespace, source, client: new Client({ connection, namespace, dataConverter }) };
    };
    const shared = options.temporalOf;
    const temporal = (): Promise<TemporalInfo> => (temporalPromise ??= shared?.temporal() ?? startTemporal());

    const baseEnv = async (overrides: Record<string, string>): Promise<NodeJS.ProcessEnv> => {
      const { address, namespace } = await temporal();
      const services = { databaseUrl, redisUrl, redisKeyPrefix, temporalAddress: address, namespace, taskQueue };
      return toolkit.appEnv(
        services,
        {
          NODE_ENV: 'development',
          LOG_LEVEL: 'warn',
          HOST: '127.0.0.1',
          PAYMENT_LATENCY_MS: '0',
          RATE_LIMIT_PER_MINUTE: '1000000',
          SHUTDOWN_GRACE: '5s',
          METRICS_PORT: String(await toolkit.freePort()),
          ...options.appEnv,
          ...overrides,
        },
        process.env,
      );
    };
    /** Starts an entry point from `root` as `name`; a death before `stop()` aborts the run. */
    const spawnEntry = async (
      name: string,
      entry: string,
      env: NodeJS.ProcessEnv,
      ready: () => Promise<boolean>,
      root = appRoot,
    ): Promise<StackProcess> => {
      const label = `${prefix}${name.replace(' ', '-')}`;
      return toolkit.startEntry(label, entry, {
        nodeArgs: options.nodeArgs,
        cwd: root,
        env,
        keepLines: 40,
        onLine: toolkit.prefixed(label, undefined, 3),
        onUnexpectedExit: (s, how) => abort(`${s.name} exited unexpectedly (${how}):\n${s.tail(40)}`),
        ready,
        timeoutMs: 120_000,
        onSpawn: (proc) => {
          teardowns.add(name, () => proc.stop());
          services.set(name, proc);
        },
      });
    };
    /** Ready once a worker polls `queue`: the Temporal side of "ready". */
    const polling = async (queue: string): Promise<() => Promise<boolean>> => {
      const { client, namespace } = await temporal();
      return toolkit.pollerReady(client.workflowService, namespace, queue);
    };

    let appPromise: Promise<AppProcesses> | undefined;
    const startApp = async (): Promise<AppProcesses> => {
      const [apiPort, relayPort] = [await toolkit.freePort(), await toolkit.freePort()];
      const env = await baseEnv({ PORT: String(apiPort), REALTIME_PORT: String(relayPort) });
      log(`bench: starting worker, API and relay (task queue ${taskQueue})`);
      const apiUrl = `http://127.0.0.1:${apiPort}`;
      const relayUrl = `http://127.0.0.1:${relayPort}`;
      const [worker, api, relay] = await Promise.all([
        spawnEntry('worker', toolkit.ENTRY_POINTS.worker, env, await polling(taskQueue)),
        spawnEntry('api', toolkit.ENTRY_POINTS.api, env, toolkit.apiReady(apiUrl)),
        spawnEntry('relay', toolkit.ENTRY_POINTS.relay, env, toolkit.relayReady(relayUrl)),
      ]);
      return { apiUrl, relayUrl, worker, api, relay };
    };

    /**
     * Starts a bench worker (floor, minimal) on its own queue: from the app under test when it has that entry (a copy
     * whose saga changed shape brings a floor of the same shape), else from this repository.
     */
    const startBenchWorker = async (name: string, entry: string, queue: string): Promise<StackProcess> => {
      const env = await baseEnv({ TEMPORAL_TASK_QUEUE: queue });
      log(`bench: starting the ${prefix}${name} (task queue ${queue})`);
      const root = existsSync(path.join(appRoot, entry)) ? appRoot : REPO_ROOT;
      return spawnEntry(name, entry, env, await polling(queue), root);
    };
    let floorPromise: Promise<StackProcess> | undefined;
    let minimalPromise: Promise<StackProcess> | undefined;

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
