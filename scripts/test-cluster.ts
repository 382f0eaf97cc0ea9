/**
 * `npm run test:cluster`: the end-to-end suites against a real temporal-server on the local PostgreSQL, set up with
 * temporal-config/'s scripts and files, the ones docker-compose.yml uses. Not part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { x } from 'tinyexec';
import { exitWithHelp, helpRequested, type Command } from '../lib/cli';
import { loadToolingConfig } from '../lib/config';
import * as stack from '../stack';
import { CLUSTER_FILES, CLUSTER_NAMESPACE, TEMPORAL_SERVER_VERSION } from '../temporal-config/cluster';
import { messageOf } from '../lib/error-text';

/** The suites that run orders end to end through Temporal; arguments after `--` replace this list. */
const CLUSTER_SUITES = [
  'test/integration/saga.test.ts',
  'test/integration/worker-crash.test.ts',
  'test/integration/api-orders.test.ts',
  'test/integration/realtime-e2e.test.ts',
  'test/integration/scaling.test.ts',
  'test/e2e',
];

const LOCAL_POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres' };

/** Its help; every other argument is jest's to check. */
const TEST_CLUSTER: Command = {
  name: 'test:cluster',
  usage: 'usage: npm run test:cluster [-- <jest args>]',
  summary: `Runs the end-to-end suites against a real Temporal cluster instead of the dev server: builds or reuses temporal-server ${TEMPORAL_SERVER_VERSION} and temporal-sql-tool (go install, cached), creates fresh databases on the local PostgreSQL (${LOCAL_POSTGRES.host}:${LOCAL_POSTGRES.port}, user ${LOCAL_POSTGRES.user}, trust authentication), starts the server on free loopback ports with temporal-config/, runs jest against it, then stops it and drops the databases. Not part of npm test; exits with jest's code.`,
  arguments: [
    [
      '<jest args>',
      `passed to jest with --runInBand, in place of the default suite list: ${CLUSTER_SUITES.join(', ')}`,
    ],
  ],
  environment: [
    ['ORDERFLOW_CACHE_DIR', 'where the server binaries are cached (default ~/.cache/orderflow)'],
    ['PATH', 'where go is looked up for the first build'],
  ],
  example: 'npm run test:cluster -- test/integration/saga.test.ts',
};

const started = Date.now();
function say(line: string): void {
  process.stderr.write(`[test:cluster ${Math.round((Date.now() - started) / 1000)}s] ${line}\n`);
}

/** Runs `sh script` to completion, its output appended to `logFile`; throws with the log's path on failure. */
async function runLogged(script: string, env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  const how = await stack.startProcess(path.basename(script), { command: 'sh', args: [script], env, logFile }).exited;
  if (how !== 'exit 0') throw new Error(`${path.basename(script)} failed (${how}); see ${logFile}`);
}

/** A running cluster for one test run and how to take it down. */
interface Cluster {
  address: string;
  server: stack.StackProcess;
  databases: string[];
  workDir: string;
}

async function startCluster(bins: stack.ClusterBinaries, workDir: string): Promise<Cluster> {
  const databases = [`orderflow_tc_temporal_${process.pid}`, `orderflow_tc_visibility_${process.pid}`];
  const [persistenceDb, visibilityDb] = databases as [string, string];
  // Temporal keeps membership ports in a PostgreSQL smallint: an ephemeral port above 32767 would make it exit.
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
    ports[name] = String(await stack.freePort([20_000, 32_000]));
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
  const validate = ['validate-dynamic-config', CLUSTER_FILES.dynamicConfig];
  const validation = spawnSync(bins.server, validate, { encoding: 'utf8' });
  if (validation.status !== 0 || /(warning|error):/.test(validation.stdout)) {
    throw new Error(`dynamic config does not validate:\n${validation.stdout}${validation.stderr}`);
  }

  say(`schema: ${databases.join(', ')} (temporal-config/scripts/setup-schema.sh)`);
  await runLogged(CLUSTER_FILES.setupSchema, serverEnv, path.join(workDir, 'setup-schema.log'));

  const address = `127.0.0.1:${ports.FRONTEND_GRPC_PORT}`;
  say(`starting temporal-server ${TEMPORAL_SERVER_VERSION} at ${address} (temporal-config/scripts/start-server.sh)`);
  const server = stack.startProcess('temporal-server', {
    command: 'sh',
    args: [CLUSTER_FILES.startServer],
    env: serverEnv,
    logFile: path.join(workDir, 'temporal-server.log'),
  });
  const cluster = { address, server, databases, workDir };
  try {
    await stack.waitReady(server, 'temporal-server to serve', () => stack.temporalAnswers(address), 120_000);
  } catch (error) {
    await stopCluster(cluster, true);
    throw error;
  }
  return cluster;
}

async function stopCluster(cluster: Cluster, keepLogs: boolean): Promise<void> {
  await cluster.server.stop('SIGTERM', 5000);
  for (const database of cluster.databases) {
    await stack
      .dropDatabase(stack.LOCAL_POSTGRES_URL, database)
      .catch((error: unknown) => say(`could not drop ${database}: ${String(error)}`));
  }
  if (keepLogs) say(`logs kept in ${cluster.workDir}`);
  else rmSync(cluster.workDir, { recursive: true, force: true });
}

async function runJest(address: string, args: string[]): Promise<number> {
  const jestArgs = ['--runInBand', ...(args.length > 0 ? args : CLUSTER_SUITES)];
  say(`jest ${jestArgs.join(' ')}`);
  const jest = x(process.execPath, [require.resolve('jest/bin/jest'), ...jestArgs], {
    throwOnError: false,
    nodeOptions: {
      cwd: stack.REPO_ROOT,
      env: { ...process.env, TEST_TEMPORAL_ADDRESS: address, TEST_TEMPORAL_NAMESPACE: CLUSTER_NAMESPACE },
      stdio: 'inherit',
    },
  });
  await jest;
  return jest.exitCode ?? 1;
}

async function main(): Promise<void> {
  const tooling = loadToolingConfig();
  if (!(await stack.postgresAnswers(stack.LOCAL_POSTGRES_URL))) {
    throw new Error(
      `test:cluster needs PostgreSQL at ${LOCAL_POSTGRES.host}:${LOCAL_POSTGRES.port} (user postgres, trust auth)`,
    );
  }
  const bins = await stack.ensureClusterBinaries(tooling.cacheDir, tooling.path, say);
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
    await stack.prepareNamespace(cluster.address, CLUSTER_NAMESPACE, (line) => say(`setup: ${line}`));
    code = await runJest(cluster.address, process.argv.slice(2));
  } finally {
    say(code === 0 ? 'suites passed; stopping the cluster' : `suites failed (exit ${code}); stopping the cluster`);
    await stopCluster(cluster, code !== 0);
  }
  say(`done in ${Math.round((Date.now() - started) / 1000)}s`);
  process.exit(code);
}

if (require.main === module) {
  if (helpRequested(process.argv.slice(2))) exitWithHelp(TEST_CLUSTER);
  main().catch((error: unknown) => {
    say(`failed: ${messageOf(error)}`);
    process.exit(1);
  });
}
