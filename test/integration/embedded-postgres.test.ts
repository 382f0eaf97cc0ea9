/**
 * The embedded PostgreSQL `npm start` runs when DATABASE_URL is unset, started for a checkout in a private (0700)
 * directory, as most containers clone into /root. As root the server must run as the `postgres` user from binaries
 * and a cluster that user can reach (stack/postgres-root.ts); as anyone else, from the package as it is.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { ROOT_POSTGRES_HOME } from '../../stack';
import { freePort, portOpen } from '../../stack';

const asRoot = process.getuid?.() === 0;
const root = path.resolve(__dirname, '..', '..');

/** A running embedded PostgreSQL and how to stop it. */
interface Server {
  url: string;
  teardown: () => Promise<void>;
}

/**
 * Starts the embedded PostgreSQL in a child process (test/support/embedded-postgres-child.ts), as `npm start` runs it;
 * its log lines go to `log`. Rejects with the child's last stderr line when it cannot start.
 */
function startEmbeddedPostgres(dataDir: string, port: number, log: (line: string) => void): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join('test', 'support', 'embedded-postgres-child.ts'), dataDir, String(port)],
    { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    const lines = stderr.split('\n');
    stderr = lines.pop() ?? '';
    for (const line of lines) log(line);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) =>
      resolve({
        url: chunk.toString().trim(),
        teardown: async () => {
          child.stdin.end();
          await exited;
        },
      }),
    );
    child.once('close', () => reject(new Error(stderr.trim() || 'the embedded PostgreSQL child exited')));
  });
}

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL in a private checkout', () => {
  let home: string;
  let dataDir: string;
  let server: Server | undefined;
  const logged: string[] = [];

  beforeAll(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'orderflow-private-checkout-'));
    expect(lstatSync(home).mode & 0o777).toBe(0o700);
    dataDir = path.join(home, 'orderflow', '.data', 'postgres');
    mkdirSync(path.dirname(dataDir), { recursive: true });
  });

  afterAll(async () => {
    await server?.teardown();
    const link = lstatSync(dataDir, { throwIfNoEntry: false });
    if (link?.isSymbolicLink() === true) rmSync(readlinkSync(dataDir), { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  test('when it starts for a data directory inside a 0700 directory, then it answers queries and keeps data across a restart', async () => {
    const port = await freePort();
    server = await startEmbeddedPostgres(dataDir, port, (line) => logged.push(line));
    await query(server.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    await server.teardown();
    expect(await portOpen('127.0.0.1', port)).toBe(false);

    server = await startEmbeddedPostgres(dataDir, port, (line) => logged.push(line));
    expect(await query(server.url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
    if (asRoot) {
      // The postgres user cannot traverse the 0700 directory: the cluster lives outside it, linked from .data.
      const [owner] = (await query(server.url, "SELECT current_setting('data_directory') AS dir")) as { dir: string }[];
      expect(owner?.dir.startsWith(path.join(ROOT_POSTGRES_HOME, 'clusters'))).toBe(true);
      expect(readlinkSync(dataDir)).toBe(owner?.dir);
    } else {
      expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
    }
  });

  test('when its data directory is deleted (rm -rf .data), then the next start has a new, empty cluster', async () => {
    const port = Number(new URL(server?.url ?? 'postgres://x:1').port);
    await server?.teardown();
    const before = lstatSync(dataDir).isSymbolicLink() ? readlinkSync(dataDir) : dataDir;
    rmSync(path.dirname(dataDir), { recursive: true, force: true });
    mkdirSync(path.dirname(dataDir), { recursive: true });
    server = await startEmbeddedPostgres(dataDir, port, (line) => logged.push(line));
    expect(await query(server.url, "SELECT to_regclass('kept') AS kept")).toEqual([{ kept: null }]);
    // As root the orphaned cluster outside the checkout was deleted and made anew (not left behind, not reused).
    if (asRoot) expect(logged.some((line) => line.includes(`Deleting the old cluster ${before}`))).toBe(true);
  });

  test('when the checkout is moved, then the next start finds its data', async () => {
    const port = Number(new URL(server?.url ?? 'postgres://x:1').port);
    await query(server?.url ?? '', 'CREATE TABLE kept_after_move (n int); INSERT INTO kept_after_move VALUES (7)');
    await server?.teardown();
    const moved = path.join(home, 'moved');
    renameSync(path.join(home, 'orderflow'), moved);
    dataDir = path.join(moved, '.data', 'postgres');
    server = await startEmbeddedPostgres(dataDir, port, (line) => logged.push(line));
    expect(await query(server.url, 'SELECT n FROM kept_after_move')).toEqual([{ n: 7 }]);
  });

  test('when its port is taken, then it fails with one line saying what to do', async () => {
    const other = mkdtempSync(path.join(os.tmpdir(), 'orderflow-port-taken-'));
    const port = Number(new URL(server?.url ?? 'postgres://x:1').port);
    const lines: string[] = [];
    try {
      await expect(startEmbeddedPostgres(path.join(other, 'pg'), port, (line) => lines.push(line))).rejects.toThrow();
      expect(lines).toEqual([
        expect.stringMatching(
          /^setup: port \d+ \(embedded PostgreSQL\) is already in use: [^\n]*set EMBEDDED_PG_PORT or DATABASE_URL$/,
        ),
      ]);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
