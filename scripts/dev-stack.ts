/**
 * The dev stack launcher behind `npm start`: provisions Temporal, PostgreSQL and Redis on embedded defaults (or uses
 * TEMPORAL_ADDRESS / DATABASE_URL / REDIS_URL when set), migrates and seeds, starts the worker, API and relay, prints
 * the URLs and a dev token, and on Ctrl-C stops every process it started. State lives under `.data/` and survives
 * restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { EMBEDDED_DATABASE_URL, loadConfig, loadToolingConfig, ConfigError, type Config } from '../lib/config';
import { createDb, migrateLatest } from '../lib/db';
import { devServerArgs, DEV_NAMESPACE } from '../temporal-config/dev-server';
import { ensureReconcileSchedule, RECONCILE_SCHEDULE_ID } from '../temporal-config/reconcile-schedule';
import { setupNamespace } from '../temporal-config/setup';
import { seedCatalog } from './seed-catalog';
import {
  ensureDatabase,
  portOpen,
  postgresAnswers,
  redisAnswers,
  startEmbeddedPostgres,
  startRedisServer,
  stopChild,
  temporalAnswers,
  waitFor,
  withDatabase,
  type Teardown,
} from './services';
import { SetupError } from './setup-error';
import { resolveTemporalCli } from './temporal-cli';
import { signToken } from '../lib/auth';

const root = path.resolve(__dirname, '..');
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** A process of ours the launcher supervises. */
interface Service {
  name: string;
  child: ChildProcess;
}

const teardowns: Teardown[] = [];
const services: Service[] = [];
let stopping = false;

function prefixOutput(name: string, child: ChildProcess): void {
  const pipe = (stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream): void => {
    let buffer = '';
    stream?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) out.write(`[${name}] ${line}\n`);
    });
  };
  pipe(child.stdout, process.stdout);
  pipe(child.stderr, process.stderr);
}

async function assertPortFree(port: number, what: string, variable: string): Promise<void> {
  if (await portOpen('127.0.0.1', port)) {
    throw new SetupError(
      `port ${port} (${what}) is already in use: stop whatever holds it (another OrderFlow? \`lsof -i :${port}\`) or set ${variable}`,
    );
  }
}

async function provisionPostgres(databaseUrl: string | undefined, dataDir: string, port: number): Promise<string> {
  if (databaseUrl !== undefined) {
    say(`PostgreSQL: using DATABASE_URL`);
    return databaseUrl;
  }
  const adminUrl = withDatabase(EMBEDDED_DATABASE_URL, 'postgres');
  if (!(await postgresAnswers(adminUrl))) {
    if (await portOpen('127.0.0.1', port)) {
      throw new SetupError(
        `port ${port} is taken by something that is not our embedded PostgreSQL: set EMBEDDED_PG_PORT or DATABASE_URL`,
      );
    }
    say(`PostgreSQL: starting embedded server on 127.0.0.1:${port} (data in ${path.relative(root, dataDir)})`);
    const server = await startEmbeddedPostgres(dataDir, port, (line) => process.stderr.write(`[postgres] ${line}\n`));
    teardowns.push(server.teardown);
  } else {
    say(`PostgreSQL: reusing the embedded server already on 127.0.0.1:${port}`);
  }
  await ensureDatabase(adminUrl, 'orderflow', false);
  return EMBEDDED_DATABASE_URL;
}

async function provisionRedis(redisUrl: string | undefined, dataDir: string, pathValue: string): Promise<string> {
  if (redisUrl !== undefined) {
    say('Redis: using REDIS_URL');
    return redisUrl;
  }
  const local = 'redis://127.0.0.1:6379';
  if (await redisAnswers(local)) {
    say('Redis: using the server on 127.0.0.1:6379');
    return local;
  }
  const port = 6380;
  const own = `redis://127.0.0.1:${port}`;
  if (await redisAnswers(own)) {
    say(`Redis: reusing the server on 127.0.0.1:${port}`);
    return own;
  }
  say(`Redis: starting redis-server on 127.0.0.1:${port} (data in ${path.relative(root, dataDir)})`);
  const server = await startRedisServer(pathValue, dataDir, port, true);
  teardowns.push(server.teardown);
  return server.url;
}

async function provisionTemporal(
  config: Config,
  tooling: ReturnType<typeof loadToolingConfig>,
  dataDir: string,
): Promise<string> {
  if (tooling.temporalAddress !== undefined) {
    say(`Temporal: using TEMPORAL_ADDRESS=${tooling.temporalAddress}`);
    const connection = await Connection.connect({ address: tooling.temporalAddress });
    try {
      // The same set-up as `npm run temporal:setup`: namespace, search attributes (retried while a new namespace
      // propagates), then the one-time cache wait when anything was added.
      await setupNamespace(connection, config.temporal.namespace, { log: (line) => say(`Temporal: ${line}`) });
    } finally {
      await connection.close();
    }
    return tooling.temporalAddress;
  }
  const address = `127.0.0.1:${tooling.temporalDevPort}`;
  await assertPortFree(tooling.temporalDevPort, 'Temporal gRPC', 'TEMPORAL_DEV_PORT or TEMPORAL_ADDRESS');
  await assertPortFree(tooling.temporalUiPort, 'Temporal Web UI', 'TEMPORAL_UI_PORT');
  const cli = await resolveTemporalCli({ tooling, progress: say });
  if (cli.source === 'sdk-download') {
    throw new SetupError(
      'no Temporal CLI: install Go (the launcher then builds it), put `temporal` on PATH, or set TEMPORAL_CLI_PATH',
    );
  }
  say(`Temporal: starting the dev server (CLI from ${cli.source}: ${cli.path})`);
  mkdirSync(dataDir, { recursive: true });
  const args = devServerArgs({
    dbFilename: path.join(dataDir, 'temporal.db'),
    ip: '127.0.0.1',
    port: tooling.temporalDevPort,
    uiPort: tooling.temporalUiPort,
    // The UI decrypts payloads through our codec server (docs/security.md); same host name as the UI for its cookie.
    codecEndpoint: `http://localhost:${config.codecPort}`,
  });
  const child = spawn(cli.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  prefixOutput('temporal', child);
  services.push({ name: 'temporal', child });
  watchExit({ name: 'temporal', child });
  await waitForService('temporal', 'the Temporal dev server', () => temporalAnswers(address), 120_000);
  return address;
}

/** The reconciliation schedule (`temporal schedule list` shows it), created or brought to RECONCILE_INTERVAL. */
async function provisionReconcileSchedule(config: Config, address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const outcome = await ensureReconcileSchedule(client, {
      taskQueue: config.temporal.taskQueue,
      intervalMs: config.reconcileIntervalMs,
    });
    say(`Temporal: ${outcome} schedule ${RECONCILE_SCHEDULE_ID} (every ${config.reconcileIntervalMs / 1000}s)`);
  } finally {
    await connection.close();
  }
}

function startService(name: string, entry: string, env: NodeJS.ProcessEnv): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  prefixOutput(name, child);
  const service = { name, child };
  services.push(service);
  watchExit(service);
  return service;
}

function watchExit(service: Service): void {
  service.child.on('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(
      `orderflow: ${service.name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the stack\n`,
    );
    void shutdown(1);
  });
}

/** Waits for a process of ours to answer; on timeout says which prefixed lines to read. */
async function waitForService(
  name: string,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs);
  } catch {
    throw new SetupError(
      `${what} did not answer within ${timeoutMs / 1000} s: see its [${name}] lines above (a busy machine? try again)`,
    );
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('\nStopping OrderFlow...');
    // Our processes first (they drain against the infrastructure), Temporal last among children.
    const ours = services.filter((s) => s.name !== 'temporal');
    await Promise.all(ours.map((s) => stopChild(s.child)));
    const temporal = services.find((s) => s.name === 'temporal');
    if (temporal !== undefined) await stopChild(temporal.child);
    for (const teardown of teardowns.reverse()) {
      await teardown().catch((error: unknown) => process.stderr.write(`orderflow: cleanup failed: ${String(error)}\n`));
    }
    say('Stopped.');
  }
  process.exit(code);
}

async function main(): Promise<void> {
  const tooling = loadToolingConfig();
  const config = loadConfig();
  const dataDir = path.resolve(root, config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  await assertPortFree(config.apiPort, 'API', 'PORT');
  await assertPortFree(config.realtimePort, 'realtime relay', 'REALTIME_PORT');
  await assertPortFree(config.metricsPort, 'worker metrics', 'METRICS_PORT');
  await assertPortFree(config.codecPort, 'codec server', 'CODEC_PORT');

  const databaseUrl = await provisionPostgres(
    tooling.databaseUrl,
    path.join(dataDir, 'postgres'),
    tooling.embeddedPgPort,
  );
  const redisUrl = await provisionRedis(tooling.redisUrl, path.join(dataDir, 'redis'), tooling.path);
  const temporalAddress = await provisionTemporal(config, tooling, dataDir);
  await provisionReconcileSchedule(config, temporalAddress, config.temporal.namespace || DEV_NAMESPACE);

  const db = createDb({ url: databaseUrl, poolMax: 2 });
  try {
    const applied = await migrateLatest(db);
    say(applied.length === 0 ? 'Migrations: up to date' : `Migrations: applied ${applied.join(', ')}`);
    const seeded = await seedCatalog(db);
    say(seeded === 0 ? 'Catalog: already seeded' : `Catalog: seeded ${seeded} demo products`);
  } finally {
    await db.destroy();
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: config.temporal.namespace || DEV_NAMESPACE,
    // The dev server's Web UI may call the codec server, whatever TEMPORAL_UI_PORT says.
    CODEC_CORS_ORIGINS: [
      ...new Set([
        ...config.codecCorsOrigins,
        `http://localhost:${tooling.temporalUiPort}`,
        `http://127.0.0.1:${tooling.temporalUiPort}`,
      ]),
    ].join(','),
  };
  startService('worker', 'worker/main.ts', env);
  startService('api', 'api/main.ts', env);
  startService('realtime', 'realtime/main.ts', env);
  startService('codec-server', 'codec-server/main.ts', env);

  const apiUrl = `http://localhost:${config.apiPort}`;
  const relayUrl = `http://localhost:${config.realtimePort}`;
  await waitForService('api', 'the API', () => httpOk(`${apiUrl}/health`));
  await waitForService('realtime', 'the realtime relay', () => httpOk(`${relayUrl}/health`));
  const codecUrl = `http://localhost:${config.codecPort}`;
  await waitForService('codec-server', 'the codec server', () => httpOk(`${codecUrl}/health`));

  const uiUrl =
    tooling.temporalAddress === undefined ? `http://localhost:${tooling.temporalUiPort}` : "(your cluster's Web UI)";
  say('');
  say('OrderFlow is up:');
  say(`  API          ${apiUrl}   (try: curl ${apiUrl}/products)`);
  say(`  Relay + demo ${relayUrl}/`);
  say(`  Temporal UI  ${uiUrl}`);
  say(`  Temporal     ${temporalAddress} (namespace ${config.temporal.namespace})`);
  say(`  Codec server ${codecUrl}   (payloads are encrypted: sign in at ${codecUrl}/session with an admin token,`);
  say(`               then enable "Include cross-origin credentials" in the UI's codec settings; docs/security.md)`);
  say('');
  say(`Dev token (customer "demo-customer"):`);
  say(`  ${signToken('demo-customer', config.jwtSecret)}`);
  say('More tokens: npm run token -- <customerId> [--admin].  Press Ctrl-C to stop everything.');
}

/** One line for a start-up failure: our own errors already say what to do; anything else gets a pointer. */
function failureLine(error: unknown): string {
  if (error instanceof ConfigError) return `invalid configuration: ${error.message}`;
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  return error instanceof SetupError
    ? message
    : `${message} (unexpected; see README.md, Troubleshooting, and the lines above, or report it)`;
}

async function fail(error: unknown): Promise<void> {
  process.stderr.write(`orderflow: ${failureLine(error)}\n`);
  await shutdown(1);
}

// Whatever goes wrong, during start-up or later, ends in one line and an ordered stop, never a stack trace.
process.on('unhandledRejection', (error) => void fail(error));
process.on('uncaughtException', (error) => void fail(error));
main().catch(fail);
