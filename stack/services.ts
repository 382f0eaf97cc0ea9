/**
 * The services of a run, given, local or our own, each with its teardown registered where it is provisioned: a
 * throwaway database, a dev server in a temporary directory, a Temporal client, a run's Redis keys (bench, chaos);
 * and the persistent ones of `npm start` in `.data/`, on the fixed ports a newcomer's bookmarks point at.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type DataConverter } from '@temporalio/client';
import Redis from 'ioredis';
import { embeddedDatabaseUrl, type Config, type ToolingConfig } from '../lib/config';
import { ensureDatabase, startEmbeddedPostgres, withDatabase } from './postgres';
import { REPO_ROOT, type ProcessOptions, type StackProcess, type Teardowns } from './process';
import { freePort, portOpen, postgresAnswers, redisAnswers, SetupError } from './ready';
import { LOCAL_REDIS_URL, startRedisServer } from './redis';
import { prepareNamespace, resolveCliBinary, startDevServer } from './temporal';

/** One progress line; the caller adds its prefix. */
type Say = (line: string) => void;

const relative = (dir: string): string => path.relative(REPO_ROOT, dir);

/** Options of a spawn the caller decides on (output, log file, process group, what an unexpected exit does). */
export type SpawnOptions = Omit<ProcessOptions, 'command' | 'args'>;

/** A dev server of the run's own, not yet started: where its database file goes, and its ports. */
export interface OwnDevServer {
  cli: { source: string; path: string };
  /** Temporary directory of its database file, deleted at teardown. */
  dir: string;
  address: string;
  /** Starts it (again: the database file keeps every workflow) with the project's flags plus `extraArgs`. */
  start(spawn: SpawnOptions): Promise<StackProcess>;
}

/** Finds the CLI and prepares a dev server in a new `tmpPrefix*` directory on free ports, so runs never collide. */
export async function ownDevServer(
  tooling: ToolingConfig,
  teardowns: Teardowns,
  options: { tmpPrefix: string; log: Say; extraArgs?: string[] },
): Promise<OwnDevServer> {
  const cli = await resolveCliBinary(tooling, options.log);
  const dir = mkdtempSync(path.join(os.tmpdir(), options.tmpPrefix));
  teardowns.add('the Temporal database file', () => rmSync(dir, { recursive: true, force: true }));
  const [port, uiPort] = [await freePort(), await freePort()];
  const server = { dbFilename: path.join(dir, 'temporal.db'), port, uiPort, extraArgs: options.extraArgs ?? [] };
  return { cli, dir, address: `127.0.0.1:${port}`, start: (spawn) => startDevServer(cli.path, server, spawn) };
}

/** A client whose connection closes at teardown (`what` names it there); `dataConverter`: the processes' codec. */
export async function temporalClient(
  address: string,
  namespace: string,
  dataConverter: DataConverter,
  teardowns: Teardowns,
  what: string,
): Promise<Client> {
  const connection = await Connection.connect({ address });
  teardowns.add(what, () => connection.close());
  return new Client({ connection, namespace, dataConverter });
}

/** Deletes every key under `prefix`: a run on a shared Redis leaves nothing behind. */
export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const scan = client.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>;
    for await (const keys of scan) if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

/** Fails with what to do when `port` is taken: a dev service of ours on it would not start, or answer for another. */
export async function assertPortFree(port: number, what: string, variable: string): Promise<void> {
  if (await portOpen('127.0.0.1', port)) {
    throw new SetupError(
      `port ${port} (${what}) is already in use: stop whatever holds it (another OrderFlow? \`lsof -i :${port}\`) or set ${variable}`,
    );
  }
}

/** `npm start`'s PostgreSQL: DATABASE_URL, else the embedded server on EMBEDDED_PG_PORT (reused, else started). */
export async function devPostgres(
  tooling: ToolingConfig,
  dataDir: string,
  teardowns: Teardowns,
  say: Say,
): Promise<string> {
  if (tooling.databaseUrl !== undefined) {
    say(`PostgreSQL: using DATABASE_URL`);
    return tooling.databaseUrl;
  }
  const port = tooling.embeddedPgPort;
  const embedded = embeddedDatabaseUrl(port);
  const adminUrl = withDatabase(embedded, 'postgres');
  if (await postgresAnswers(adminUrl)) {
    say(`PostgreSQL: reusing the embedded server already on 127.0.0.1:${port}`);
  } else {
    say(`PostgreSQL: starting embedded server on 127.0.0.1:${port} (data in ${relative(dataDir)})`);
    const log = (line: string): void => void process.stderr.write(`[postgres] ${line}\n`);
    const server = await startEmbeddedPostgres(dataDir, port, log);
    teardowns.add('PostgreSQL', server.stop);
  }
  await ensureDatabase(adminUrl, 'orderflow', false);
  return embedded;
}

/** `npm start`'s Redis: REDIS_URL, else 6379, else ours on 6380 (persisted), so a system Redis is never written to disk. */
export async function devRedis(
  tooling: ToolingConfig,
  dataDir: string,
  teardowns: Teardowns,
  say: Say,
): Promise<string> {
  if (tooling.redisUrl !== undefined) {
    say('Redis: using REDIS_URL');
    return tooling.redisUrl;
  }
  for (const [url, how] of [
    [LOCAL_REDIS_URL, 'using the server on 127.0.0.1:6379'],
    ['redis://127.0.0.1:6380', 'reusing the server on 127.0.0.1:6380'],
  ] as const) {
    if (await redisAnswers(url)) {
      say(`Redis: ${how}`);
      return url;
    }
  }
  say(`Redis: starting redis-server on 127.0.0.1:6380 (data in ${relative(dataDir)})`);
  const server = await startRedisServer(tooling.path, dataDir, 6380, true);
  teardowns.add('redis-server', server.stop);
  return server.url;
}

/** `npm start`'s Temporal: TEMPORAL_ADDRESS (namespace prepared), else a dev server on the fixed ports, data kept. */
export async function devTemporal(
  config: Config,
  tooling: ToolingConfig,
  dataDir: string,
  teardowns: Teardowns,
  say: Say,
  spawn: SpawnOptions,
): Promise<string> {
  if (tooling.temporalAddress !== undefined) {
    say(`Temporal: using TEMPORAL_ADDRESS=${tooling.temporalAddress}`);
    await prepareNamespace(tooling.temporalAddress, config.temporal.namespace, (line) => say(`Temporal: ${line}`));
    return tooling.temporalAddress;
  }
  await assertPortFree(tooling.temporalDevPort, 'Temporal gRPC', 'TEMPORAL_DEV_PORT or TEMPORAL_ADDRESS');
  await assertPortFree(tooling.temporalUiPort, 'Temporal Web UI', 'TEMPORAL_UI_PORT');
  const cli = await resolveCliBinary(tooling, say);
  say(`Temporal: starting the dev server (CLI from ${cli.source}: ${cli.path})`);
  const devServer = {
    dbFilename: path.join(dataDir, 'temporal.db'),
    port: tooling.temporalDevPort,
    uiPort: tooling.temporalUiPort,
    // The UI decrypts payloads through our codec server (docs/security.md); same host name as the UI for its cookie.
    codecEndpoint: `http://localhost:${config.codecPort}`,
  };
  const server = await startDevServer(cli.path, devServer, spawn);
  teardowns.add('the Temporal dev server', () => server.stop()); // after ours: they drain against it
  return `127.0.0.1:${tooling.temporalDevPort}`;
}
