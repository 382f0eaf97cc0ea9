/**
 * `npm run test:cluster [-- <jest args>]`: the end-to-end suites against a real Temporal cluster instead of the dev
 * server: temporal-server and temporal-sql-tool of the release docker-compose.yml runs (built with `go install`, cached
 * in ~/.cache/orderflow/temporal-server/), on the local PostgreSQL (127.0.0.1:5432, user postgres), with the config,
 * dynamic config, schema and namespace scripts of temporal-config/, the same ones compose uses. Not part of `npm test`.
 *
 * Steps: build or reuse the binaries -> fresh `temporal` + `visibility` databases -> setup-schema.sh -> start-server.sh
 * on free loopback ports -> namespace + search attributes (temporal-config/setup.ts) -> jest with
 * TEST_TEMPORAL_ADDRESS / TEST_TEMPORAL_NAMESPACE (the global setup then uses this server) -> stop, drop, clean up.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { loadToolingConfig } from '../lib/config';
import {
  CLUSTER_FILES,
  CLUSTER_NAMESPACE,
  TEMPORAL_SCHEMA_MODULE_DIR,
  TEMPORAL_SERVER_GO_PACKAGES,
  TEMPORAL_SERVER_VERSION,
} from '../temporal-config/cluster';
import { setupNamespace } from '../temporal-config/setup';
import net from 'node:net';
import { dropDatabase, postgresAnswers, stopChild, temporalAnswers, waitFor } from './services';
import { findOnPath } from './temporal-cli';

/** The suites that run orders end to end through Temporal; arguments after `--` replace this list. */
export const CLUSTER_SUITES = [
  'test/integration/saga.test.ts',
  'test/integration/worker-crash.test.ts',
  'test/integration/api-orders.test.ts',
  'test/integration/realtime-e2e.test.ts',
  'test/integration/scaling.test.ts',
  'test/e2e',
];

const root = path.resolve(__dirname, '..');
const LOCAL_POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const ADMIN_URL = `postgres://${LOCAL_POSTGRES.user}@${LOCAL_POSTGRES.host}:${LOCAL_POSTGRES.port}/postgres`;

const started = Date.now();
function say(line: string): void {
  process.stderr.write(`[test:cluster ${Math.round((Date.now() - started) / 1000)}s] ${line}\n`);
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where the pinned binaries and their schema files are cached, shared by every clone. */
export interface ClusterBinaries {
  server: string;
  sqlTool: string;
  schemaDir: string;
}

function cachedBinaries(cacheDir: string): ClusterBinaries {
  const dir = path.join(cacheDir, 'temporal-server', `v${TEMPORAL_SERVER_VERSION}`);
  return {
    server: path.join(dir, 'temporal-server'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    schemaDir: path.join(dir, 'schema'),
  };
}

/** Runs `go install` for both packages into a scratch GOBIN, printing progress every 15s (minutes on 2 cores). */
async function goInstall(go: string, gobin: string): Promise<void> {
  const packages = Object.values(TEMPORAL_SERVER_GO_PACKAGES);
  say(`building ${packages.join(' and ')} with go install (first run only; 3-10 minutes)...`);
  const buildStarted = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', '-v', ...packages], {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let compiled = 0;
    let lastLine = '';
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        lastLine = line;
        if (!line.startsWith('go: downloading')) compiled += 1;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const ticker = setInterval(() => {
      say(
        `  ... ${Math.round((Date.now() - buildStarted) / 1000)}s, ${compiled} packages compiled (${lastLine.slice(0, 80)})`,
      );
    }, 15_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`could not run ${go}: ${error.message}`));
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`go install failed (exit ${code}): ${lastLine}`));
    });
  });
  say(`built in ${Math.round((Date.now() - buildStarted) / 1000)}s`);
}

/** The cached binaries, building them (and copying the schema out of the module cache) when missing. */
export async function ensureClusterBinaries(cacheDir: string, pathValue: string): Promise<ClusterBinaries> {
  const bins = cachedBinaries(cacheDir);
  if (executable(bins.server) && executable(bins.sqlTool) && existsSync(bins.schemaDir)) return bins;
  const go = findOnPath('go', pathValue) ?? ['/usr/local/go/bin/go'].find(executable);
  if (go === undefined) {
    throw new Error(
      `no cached Temporal server ${TEMPORAL_SERVER_VERSION} in ${path.dirname(bins.server)} and no Go toolchain to build it: install Go 1.25+`,
    );
  }
  const gobin = `${path.dirname(bins.server)}.build-${process.pid}`;
  mkdirSync(gobin, { recursive: true });
  try {
    await goInstall(go, gobin);
    const modCache = spawnSync(go, ['env', 'GOMODCACHE'], { encoding: 'utf8' }).stdout.trim();
    const moduleSchema = path.join(modCache, TEMPORAL_SCHEMA_MODULE_DIR, 'postgresql', 'v12');
    mkdirSync(path.dirname(bins.server), { recursive: true });
    rmSync(bins.schemaDir, { recursive: true, force: true });
    cpSync(moduleSchema, path.join(bins.schemaDir, 'postgresql', 'v12'), { recursive: true });
    // go install names binaries after their package directories (server, sql).
    renameSync(path.join(gobin, 'server'), bins.server);
    renameSync(path.join(gobin, 'sql'), bins.sqlTool);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  return bins;
}

/** Runs a command to completion with its output in the log file; throws with the log's path on failure. */
async function runLogged(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  const log = createWriteStream(logFile, { flags: 'a' });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${path.basename(args[0] ?? command)} failed (exit ${code}); see ${logFile}`)),
    );
  });
  log.end();
}

/**
 * A free loopback port below 32768: Temporal stores membership ports in a PostgreSQL smallint, so the OS's ephemeral
 * ports (usually above 32767) make the server exit with "value out of range for type smallint".
 */
async function freeLowPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port between 20000 and 32000 on 127.0.0.1');
}

/** A running cluster for one test run and how to take it down. */
interface Cluster {
  address: string;
  server: ChildProcess;
  databases: string[];
  workDir: string;
}

async function startCluster(bins: ClusterBinaries, workDir: string): Promise<Cluster> {
  const suffix = `${process.pid}`;
  const databases = [`orderflow_tc_temporal_${suffix}`, `orderflow_tc_visibility_${suffix}`];
  const [persistenceDb, visibilityDb] = databases as [string, string];
  const taken = new Set<number>();
  const ports: Record<string, string> = {};
  for (const name of [
    'FRONTEND_GRPC_PORT',
    'FRONTEND_HTTP_PORT',
    'FRONTEND_MEMBERSHIP_PORT',
    'HISTORY_GRPC_PORT',
    'HISTORY_MEMBERSHIP_PORT',
    'MATCHING_GRPC_PORT',
    'MATCHING_MEMBERSHIP_PORT',
    'WORKER_GRPC_PORT',
    'WORKER_MEMBERSHIP_PORT',
  ]) {
    ports[name] = String(await freeLowPort(taken));
  }
  const serverEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_SERVER_BIN: bins.server,
    TEMPORAL_SQL_TOOL: bins.sqlTool,
    TEMPORAL_SCHEMA_DIR: bins.schemaDir,
    POSTGRES_SEEDS: LOCAL_POSTGRES.host,
    DB_PORT: String(LOCAL_POSTGRES.port),
    POSTGRES_USER: LOCAL_POSTGRES.user,
    POSTGRES_PWD: '',
    DBNAME: persistenceDb,
    VISIBILITY_DBNAME: visibilityDb,
    BIND_ON_IP: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...ports,
  };

  // The server only warns about unknown keys or wrong types in dynamic config and then ignores them: fail instead.
  const validation = spawnSync(bins.server, ['validate-dynamic-config', CLUSTER_FILES.dynamicConfig], {
    encoding: 'utf8',
  });
  if (validation.status !== 0 || /(warning|error):/.test(validation.stdout)) {
    throw new Error(`dynamic config does not validate:\n${validation.stdout}${validation.stderr}`);
  }

  say(`schema: ${databases.join(', ')} (temporal-config/scripts/setup-schema.sh)`);
  await runLogged('sh', [CLUSTER_FILES.setupSchema], serverEnv, path.join(workDir, 'setup-schema.log'));

  const address = `127.0.0.1:${ports.FRONTEND_GRPC_PORT}`;
  say(`starting temporal-server ${TEMPORAL_SERVER_VERSION} at ${address} (temporal-config/scripts/start-server.sh)`);
  const serverLog = createWriteStream(path.join(workDir, 'temporal-server.log'));
  const server = spawn('sh', [CLUSTER_FILES.startServer], { env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.pipe(serverLog);
  server.stderr.pipe(serverLog);
  const cluster = { address, server, databases, workDir };
  try {
    await waitFor(
      'temporal-server to serve',
      async () => {
        if (server.exitCode !== null)
          throw new Error(`temporal-server exited (${server.exitCode}); see ${workDir}/temporal-server.log`);
        return temporalAnswers(address);
      },
      120_000,
    );
  } catch (error) {
    await stopCluster(cluster, true);
    throw error;
  }
  return cluster;
}

async function stopCluster(cluster: Cluster, keepLogs: boolean): Promise<void> {
  await stopChild(cluster.server);
  for (const database of cluster.databases) {
    await dropDatabase(ADMIN_URL, database).catch((error: unknown) =>
      say(`could not drop ${database}: ${String(error)}`),
    );
  }
  if (keepLogs) say(`logs kept in ${cluster.workDir}`);
  else rmSync(cluster.workDir, { recursive: true, force: true });
}

async function runJest(address: string, args: string[]): Promise<number> {
  const jestArgs = ['--runInBand', ...(args.length > 0 ? args : CLUSTER_SUITES)];
  say(`jest ${jestArgs.join(' ')}`);
  const child = spawn(process.execPath, [require.resolve('jest/bin/jest'), ...jestArgs], {
    cwd: root,
    env: { ...process.env, TEST_TEMPORAL_ADDRESS: address, TEST_TEMPORAL_NAMESPACE: CLUSTER_NAMESPACE },
    stdio: 'inherit',
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

async function main(): Promise<void> {
  const tooling = loadToolingConfig();
  if (!(await postgresAnswers(ADMIN_URL))) {
    throw new Error(
      `test:cluster needs PostgreSQL at ${LOCAL_POSTGRES.host}:${LOCAL_POSTGRES.port} (user postgres, trust auth)`,
    );
  }
  const bins = await ensureClusterBinaries(tooling.cacheDir, tooling.path);
  say(`binaries: ${path.dirname(bins.server)}`);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-test-cluster-'));
  const cluster = await startCluster(bins, workDir);
  let code = 1;
  const interrupt = (): void => {
    void stopCluster(cluster, true).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const connection = await Connection.connect({ address: cluster.address });
    try {
      await setupNamespace(connection, CLUSTER_NAMESPACE, { log: (line) => say(`setup: ${line}`) });
    } finally {
      await connection.close();
    }
    code = await runJest(cluster.address, process.argv.slice(2));
  } finally {
    say(code === 0 ? 'suites passed; stopping the cluster' : `suites failed (exit ${code}); stopping the cluster`);
    await stopCluster(cluster, code !== 0);
  }
  say(`done in ${Math.round((Date.now() - started) / 1000)}s`);
  process.exit(code);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    say(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
