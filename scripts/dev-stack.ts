/**
 * The launcher behind `npm start`: provisions Temporal, PostgreSQL and Redis (or uses the ones the environment names),
 * migrates, seeds, starts our processes, prints the URLs and stops everything on Ctrl-C. The work is stack/'s.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig, loadToolingConfig, type Config } from '../lib/config';
import { createDb, migrateLatest } from '../lib/db';
import { signToken } from '../lib/auth';
import * as stack from '../stack';
import { DEV_NAMESPACE } from '../temporal-config/dev-server';
import { ensureReconcileSchedule, RECONCILE_SCHEDULE_ID } from '../temporal-config/reconcile-schedule';
import { seedCatalog } from '../lib/catalog';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const teardowns = new stack.Teardowns((line) => process.stderr.write(`orderflow: ${line}\n`));
const ours: stack.StackProcess[] = [];
let exiting = false;

/** Options of every process the launcher supervises: prefixed output, and the whole stack stops if one dies. */
const supervised = (name: string): Omit<stack.ProcessOptions, 'args'> => ({
  env: process.env,
  onLine: stack.prefixed(name, (line) => void process.stdout.write(`${line}\n`)),
  onUnexpectedExit: (_proc, how) => {
    process.stderr.write(`orderflow: ${name} exited unexpectedly (${how}); stopping the stack\n`);
    void shutdown(1);
  },
});

/** A readiness timeout says which prefixed lines to read. */
const explainTimeout = (name: string) => (error: unknown) => {
  if (!(error instanceof stack.WaitTimeoutError)) throw error;
  throw new stack.SetupError(`${error.message}: see its [${name}] lines above (a busy machine? try again)`);
};

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

async function shutdown(code: number): Promise<never> {
  if (!exiting) {
    exiting = true;
    say('\nStopping OrderFlow...');
    await Promise.all(ours.map((proc) => proc.stop('SIGTERM', 5000)));
    await teardowns.stop();
    say('Stopped.');
  }
  process.exit(code);
}

async function main(): Promise<void> {
  const tooling = loadToolingConfig();
  const config = loadConfig();
  const dataDir = path.resolve(stack.REPO_ROOT, config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  await stack.assertPortFree(config.apiPort, 'API', 'PORT');
  await stack.assertPortFree(config.realtimePort, 'realtime relay', 'REALTIME_PORT');
  await stack.assertPortFree(config.metricsPort, 'worker metrics', 'METRICS_PORT');
  await stack.assertPortFree(config.codecPort, 'codec server', 'CODEC_PORT');

  const databaseUrl = await stack.devPostgres(tooling, path.join(dataDir, 'postgres'), teardowns, say);
  const redisUrl = await stack.devRedis(tooling, path.join(dataDir, 'redis'), teardowns, say);
  const temporalAddress = await stack
    .devTemporal(config, tooling, dataDir, teardowns, say, supervised('temporal'))
    .catch(explainTimeout('temporal'));
  const namespace = config.temporal.namespace || DEV_NAMESPACE;
  await provisionReconcileSchedule(config, temporalAddress, namespace);

  const db = createDb({ url: databaseUrl, poolMax: 2 });
  try {
    const applied = await migrateLatest(db);
    say(applied.length === 0 ? 'Migrations: up to date' : `Migrations: applied ${applied.join(', ')}`);
    const seeded = await seedCatalog(db);
    say(seeded === 0 ? 'Catalog: already seeded' : `Catalog: seeded ${seeded} demo products`);
  } finally {
    await db.destroy();
  }

  // The dev server's Web UI may call the codec server, whatever TEMPORAL_UI_PORT says.
  const uiOrigins = [`http://localhost:${tooling.temporalUiPort}`, `http://127.0.0.1:${tooling.temporalUiPort}`];
  const codecCorsOrigins = [...new Set([...config.codecCorsOrigins, ...uiOrigins])].join(',');
  const services = { databaseUrl, redisUrl, temporalAddress, namespace };
  const env = stack.appEnv(services, { CODEC_CORS_ORIGINS: codecCorsOrigins }, process.env);
  const apiUrl = `http://localhost:${config.apiPort}`;
  const relayUrl = `http://localhost:${config.realtimePort}`;
  const codecUrl = `http://localhost:${config.codecPort}`;
  const entries = [
    ['worker', stack.ENTRY_POINTS.worker, undefined],
    ['api', stack.ENTRY_POINTS.api, apiUrl],
    ['realtime', stack.ENTRY_POINTS.relay, relayUrl],
    ['codec-server', stack.ENTRY_POINTS.codec, codecUrl],
  ] as const;
  await Promise.all(
    entries.map(async ([name, entry, url]) => {
      const onSpawn = (proc: stack.StackProcess): number => ours.push(proc); // stopped in order from now on
      const ready = url === undefined ? {} : { ready: () => stack.httpOk(`${url}/health`) };
      const options = { ...supervised(name), env, timeoutMs: 60_000, onSpawn, ...ready };
      await stack.startEntry(name, entry, options).catch(explainTimeout(name));
    }),
  );

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
  return error instanceof stack.SetupError
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
