/**
 * The stack one bench run measures (docs/benchmarks.md, "The stack"), shared by its scenarios, loopback only, torn
 * down at its end (also on Ctrl-C or an error): PostgreSQL, Redis and Temporal found or started by the stack toolkit
 * (stack/), and our processes spawned from their real entry points on free ports, on task queues of the run's own.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { createDataConverter } from '../../lib/codec';
import { loadConfigOrExit, loadToolingConfig } from '../../lib/config';
import { createDb } from '../../lib/db';
import * as toolkit from '../../stack';
import type { StackProcess } from '../../stack';
import { DEV_NAMESPACE } from '../../temporal-config/dev-server';

/** Entry points of the bench's own workers, relative to the repository root. */
const FLOOR_ENTRY = path.join('bench', 'floor', 'worker.ts');
const MINIMAL_ENTRY = path.join('bench', 'minimal', 'worker.ts');

/** Repository root: where the entry points live. */
export const REPO_ROOT = toolkit.REPO_ROOT;

/** What the bench can change about the stack, for tuning experiments (the command-line options of the same names). */
export interface StackOptions {
  log: (line: string) => void;
  /** Extra `--dynamic-config-value` and `--sqlite-pragma` (over the project's) for a dev server the bench starts. */
  dynamicConfig?: string[];
  sqlitePragmas?: string[];
  /** Added to the environment of the worker, API and relay; `nodeArgs`: their node flags, e.g. `--cpu-prof`. */
  appEnv?: Record<string, string>;
  nodeArgs?: string[];
  /** Directory whose entry points are spawned (a copy of the repo with an experimental change). @default REPO_ROOT */
  appRoot?: string;
  /** Tells two stacks of one run apart (`--compare`): suffixes their database, queues and Redis prefix. */
  label?: string;
  /**
   * Another stack whose Temporal this one uses (its CPU counts for both): `--compare` runs both sides on one dev
   * server, so neither gets a warmer or emptier server. Stop this stack before that one.
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

/** How the run reached Temporal (`source`: `dev server (<cli path>)` or `TEMPORAL_ADDRESS`). */
export interface TemporalInfo {
  address: string;
  namespace: string;
  source: string;
  client: Client;
}

/** The shared stack of a bench run. */
export interface BenchStack {
  databaseUrl: string;
  /** The database the bench writes to (for `pg_stat_database`); `ownDatabase`: created here, dropped at the end. */
  databaseName: string;
  ownDatabase: boolean;
  redisUrl: string;
  redisKeyPrefix: string;
  /** Task queues of the order worker (and API), the floor worker and the minimal worker the bench spawns. */
  taskQueue: string;
  floorTaskQueue: string;
  minimalTaskQueue: string;
  /** A knex pool for the bench's own bookkeeping (catalog, invariants, statistics). */
  db: Knex;
  /** Where each service came from, for the results file. */
  describe(): Record<string, string>;
  /** Temporal, and our processes (after Temporal): each started or found on first call. */
  temporal(): Promise<TemporalInfo>;
  app(): Promise<AppProcesses>;
  floorWorker(): Promise<StackProcess>;
  minimalWorker(): Promise<StackProcess>;
  /** Pids of every process of the stack by name, PostgreSQL's backends as of `refreshPostgresPids()` (local only). */
  pids(): Record<string, number[]>;
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
    const databaseName = `orderflow_bench_${process.pid}${suffix.replace('-', '_')}`;
    let databaseUrl: string;
    let ownDatabase = true;
    if (tooling.databaseUrl !== undefined && (await toolkit.postgresAnswers(tooling.databaseUrl))) {
      databaseUrl = tooling.databaseUrl;
      ownDatabase = false;
      described.postgres = 'DATABASE_URL';
    } else {
      if (tooling.databaseUrl !== undefined) log('bench: DATABASE_URL does not answer; using a database of our own');
      const tmpPrefix = 'orderflow-bench-pg-';
      const database = await toolkit.createThrowawayDatabase(databaseName, { teardowns, tmpPrefix, log });
      described.postgres = `${database.where}, database ${databaseName}`;
      databaseUrl = database.url;
    }
    const db = createDb({ url: databaseUrl, poolMax: 8 });
    teardowns.add('the bench database pool', () => db.destroy());
    // The schema the app under test expects: a copy of the repository (`appRoot`) migrates with its own migrations.
    const appDb = (await import(path.join(appRoot, 'lib', 'db'))) as typeof import('../../lib/db');
    const migrating = appRoot === REPO_ROOT ? db : appDb.createDb({ url: databaseUrl, poolMax: 2 });
    try {
      await appDb.migrateLatest(migrating);
    } finally {
      if (migrating !== db) await migrating.destroy();
    }
    const current = await db.raw<{ rows: { name: string }[] }>('SELECT current_database() AS name');

    const redis = await toolkit.findOrStartRedis(tooling.path, {
      url: tooling.redisUrl,
      tmpPrefix: 'orderflow-bench-redis-',
    });
    teardowns.add('redis-server', redis.stop);
    const redisUrl = redis.url;
    const redisSource = redis.started ? `redis-server started by the bench (${redisUrl})` : '127.0.0.1:6379';
    described.redis = tooling.redisUrl !== undefined ? 'REDIS_URL' : redisSource;
    const redisKeyPrefix = `orderflow:bench-${process.pid}${suffix}:`;
    teardowns.add('the bench Redis keys', () => toolkit.deleteRedisKeys(redisUrl, redisKeyPrefix));

    const queue = (kind: string): string => `bench-${kind}-${process.pid}${suffix}`;
    const [taskQueue, floorTaskQueue, minimalTaskQueue] = [queue('orders'), queue('floor'), queue('minimal')];

    const startTemporal = async (): Promise<TemporalInfo> => {
      const namespace = DEV_NAMESPACE;
      let address = tooling.temporalAddress;
      let source = 'TEMPORAL_ADDRESS';
      if (address !== undefined && (await toolkit.temporalAnswers(address))) {
        await toolkit.prepareNamespace(address, namespace, (line) => log(`bench: temporal: ${line}`));
      } else {
        if (address !== undefined) log('bench: TEMPORAL_ADDRESS does not answer; starting a dev server');
        const [pragmas, dynamicConfig] = [options.sqlitePragmas ?? [], options.dynamicConfig ?? []];
        const extraArgs = [
          ...pragmas.flatMap((pragma) => ['--sqlite-pragma', pragma]),
          ...dynamicConfig.flatMap((value) => ['--dynamic-config-value', value]),
        ];
        const tmpPrefix = 'orderflow-bench-temporal-';
        const own = await toolkit.ownDevServer(tooling, teardowns, { tmpPrefix, log, extraArgs });
        address = own.address;
        // Its warnings are kept for the error message, not printed.
        const server = await own.start({
          cwd: own.dir,
          env: process.env,
          onUnexpectedExit: (s, how) => abort(`the Temporal dev server exited (${how}):\n${s.tail()}`),
        });
        services.set('temporal', server);
        teardowns.add('the Temporal dev server', () => server.stop());
        const extras = [...pragmas, ...dynamicConfig];
        source = `dev server (${own.cli.source}: ${own.cli.path})${extras.length > 0 ? ` + ${extras.join(' ')}` : ''}`;
      }
      // The payload codec of the API: the floor's client encrypts like the API does.
      const dataConverter = createDataConverter(loadConfigOrExit());
      const what = 'the bench Temporal connection';
      const client = await toolkit.temporalClient(address, namespace, dataConverter, teardowns, what);
      described.temporal = source;
      return { address, namespace, source, client };
    };
    const shared = options.temporalOf;
    let temporalPromise: Promise<TemporalInfo> | undefined;
    const temporal = (): Promise<TemporalInfo> => (temporalPromise ??= shared?.temporal() ?? startTemporal());

    const baseEnv = async (overrides: Record<string, string>): Promise<NodeJS.ProcessEnv> => {
      const { address, namespace } = await temporal();
      const services = { databaseUrl, redisUrl, redisKeyPrefix, temporalAddress: address, namespace, taskQueue };
      const settings = {
        NODE_ENV: 'development',
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        PAYMENT_LATENCY_MS: '0',
        RATE_LIMIT_PER_MINUTE: '1000000',
        SHUTDOWN_GRACE: '5s',
        METRICS_PORT: String(await toolkit.freePort()),
      };
      return toolkit.appEnv(services, { ...settings, ...options.appEnv, ...overrides }, process.env);
    };
    /** Starts an entry point from `root` as `name`, ready once `ready` holds; a death before `stop()` aborts the run. */
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

    const startApp = async (): Promise<AppProcesses> => {
      const [apiPort, relayPort] = [await toolkit.freePort(), await toolkit.freePort()];
      const env = await baseEnv({ PORT: String(apiPort), REALTIME_PORT: String(relayPort) });
      log(`bench: starting worker, API and relay (task queue ${taskQueue})`);
      const [apiUrl, relayUrl] = [`http://127.0.0.1:${apiPort}`, `http://127.0.0.1:${relayPort}`];
      const [worker, api, relay] = await Promise.all([
        spawnEntry('worker', toolkit.ENTRY_POINTS.worker, env, await polling(taskQueue)),
        spawnEntry('api', toolkit.ENTRY_POINTS.api, env, toolkit.apiReady(apiUrl)),
        spawnEntry('relay', toolkit.ENTRY_POINTS.relay, env, toolkit.relayReady(relayUrl)),
      ]);
      return { apiUrl, relayUrl, worker, api, relay };
    };
    /**
     * A bench worker (floor, minimal) on its own queue: from the app under test when it has that entry (a copy whose
     * saga changed shape brings a floor of the same shape), else from this repository.
     */
    const startBenchWorker = async (name: string, entry: string, queue: string): Promise<StackProcess> => {
      const env = await baseEnv({ TEMPORAL_TASK_QUEUE: queue });
      log(`bench: starting the ${prefix}${name} (task queue ${queue})`);
      const root = existsSync(path.join(appRoot, entry)) ? appRoot : REPO_ROOT;
      return spawnEntry(name, entry, env, await polling(queue), root);
    };
    const once = <T>(start: () => Promise<T>): (() => Promise<T>) => {
      let started: Promise<T> | undefined;
      return () => (started ??= start());
    };

    let postgresPids: number[] = [];
    return {
      databaseUrl,
      databaseName: current.rows[0]?.name ?? databaseName,
      ownDatabase,
      redisUrl,
      redisKeyPrefix,
      taskQueue,
      floorTaskQueue,
      minimalTaskQueue,
      db,
      describe: () => ({ ...shared?.describe(), ...described, appRoot: path.relative(REPO_ROOT, appRoot) || '.' }),
      temporal,
      app: once(startApp),
      floorWorker: once(() => startBenchWorker('floor worker', FLOOR_ENTRY, floorTaskQueue)),
      minimalWorker: once(() => startBenchWorker('minimal worker', MINIMAL_ENTRY, minimalTaskQueue)),
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
