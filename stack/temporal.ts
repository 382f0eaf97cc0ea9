/**
 * Temporal for the stack. The CLI (dev server + Web UI) is found or built in the order docs/design.md gives:
 * `TEMPORAL_CLI_PATH`, `temporal` on PATH, a cached build outside the repo (`~/.cache/orderflow`), `go install` of
 * the pinned release, and last the SDK's own download (machines with internet). The self-hosted server binaries of
 * `npm run test:cluster` are built the same way. Also: the dev server started with the project's flags, and the
 * namespace of an existing server prepared.
 */
import { accessSync, constants, cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { x } from 'tinyexec';
import type { ToolingConfig } from '../lib/config';
import {
  TEMPORAL_SCHEMA_MODULE_DIR,
  TEMPORAL_SERVER_GO_PACKAGES,
  TEMPORAL_SERVER_VERSION,
} from '../temporal-config/cluster';
import {
  devServerArgs,
  TEMPORAL_CLI_GO_PACKAGE,
  TEMPORAL_CLI_VERSION,
  type DevServerOptions,
} from '../temporal-config/dev-server';
import { setupNamespace } from '../temporal-config/setup';
import { startProcess, waitReady, type ProcessOptions, type StackProcess } from './process';
import { SetupError, temporalAnswers } from './ready';
import { messageOf } from '../lib/error-text';

/** A usable CLI: a binary path and where it came from, or the SDK's cached download when nothing local exists. */
export type ResolvedCli =
  { source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go install'; path: string } | { source: 'sdk-download' };

/** Raised when a step of provisioning fails in a way the user must fix. */
export class TemporalCliError extends SetupError {}

/** Progress callback for long steps: one line each. */
export type Progress = (line: string) => void;

/** True if `file` exists and this user may execute it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks a command up on a PATH string. */
export function findOnPath(command: string, pathValue: string): string | undefined {
  return pathValue
    .split(path.delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => path.join(dir, command))
    .find(isExecutable);
}

/** The Go toolchain on `pathValue`, else at `fallbacks` (the tarball's place); undefined when there is none. */
export function findGo(pathValue: string, fallbacks = ['/usr/local/go/bin/go']): string | undefined {
  return findOnPath('go', pathValue) ?? fallbacks.find(isExecutable);
}

/**
 * Runs one Go build command (`go install` / `go build`) with `GOFLAGS=-mod=mod` unless set, printing a progress line
 * every 15 s while Go works; rejects with a `TemporalCliError` naming `what` and Go's last output line.
 */
export async function runGoBuild(
  goBinary: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; what: string },
  progress: Progress,
): Promise<void> {
  const started = Date.now();
  const env = { ...process.env, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod', ...options.env };
  const build = x(goBinary, args, { throwOnError: false, nodePath: false, nodeOptions: { cwd: options.cwd, env } });
  let packages = 0;
  let lastLine = '';
  const ticker = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    progress(`  ... ${seconds}s, ${packages} packages compiled (${lastLine.slice(0, 80)})`);
  }, 15_000);
  try {
    for await (const line of build) {
      if (line.trim() === '') continue;
      lastLine = line;
      if (!line.startsWith('go: downloading')) packages += 1;
    }
  } catch (error) {
    throw new TemporalCliError(`could not run ${goBinary}: ${messageOf(error)}`);
  } finally {
    clearInterval(ticker);
  }
  if (build.exitCode !== 0) throw new TemporalCliError(`${options.what} failed (exit ${build.exitCode}): ${lastLine}`);
}

/** `go install` of `packages` into a scratch GOBIN next to `targetDir`; `place` moves what it needs out of it. */
async function goInstall(
  go: string,
  packages: string[],
  targetDir: string,
  progress: Progress,
  place: (gobin: string) => void,
): Promise<void> {
  const gobin = `${targetDir}.build-${process.pid}`;
  mkdirSync(gobin, { recursive: true });
  const started = Date.now();
  try {
    await runGoBuild(
      go,
      ['install', '-v', ...packages],
      { env: { GOBIN: gobin }, what: `go install ${packages.join(' ')}` },
      progress,
    );
    mkdirSync(targetDir, { recursive: true });
    place(gobin);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  progress(`Built ${targetDir} in ${Math.round((Date.now() - started) / 1000)}s`);
}

/** Path of the cached CLI build of the pinned version. */
export function cachedCliPath(cacheDir: string): string {
  return path.join(cacheDir, 'temporal-cli', TEMPORAL_CLI_VERSION, 'temporal');
}

/** Builds the pinned CLI with `go install` into the cache, printing progress while Go works (minutes on first run). */
async function goInstallCli(goBinary: string, cacheDir: string, progress: Progress): Promise<string> {
  const target = cachedCliPath(cacheDir);
  // 606 s measured on 2 cores with an empty Go cache (module downloads included) while the machine was busy.
  progress(
    `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install (first run only; up to 10 minutes on 2 cores)...`,
  );
  await goInstall(goBinary, [TEMPORAL_CLI_GO_PACKAGE], path.dirname(target), progress, (gobin) =>
    renameSync(path.join(gobin, 'temporal'), target),
  );
  return target;
}

/**
 * Finds the CLI, building it when needed (see the module comment for the order); `build` and `goFallbacks` (where
 * Go is looked for off PATH) are for tests.
 */
export async function resolveTemporalCli({
  tooling,
  progress = () => undefined,
  build = goInstallCli,
  goFallbacks,
}: {
  tooling: Pick<ToolingConfig, 'temporalCliPath' | 'path' | 'cacheDir'>;
  progress?: Progress;
  build?: typeof goInstallCli;
  goFallbacks?: string[];
}): Promise<ResolvedCli> {
  if (tooling.temporalCliPath !== undefined) {
    if (!isExecutable(tooling.temporalCliPath)) {
      throw new TemporalCliError(`TEMPORAL_CLI_PATH=${tooling.temporalCliPath} is not an executable file`);
    }
    return { source: 'TEMPORAL_CLI_PATH', path: tooling.temporalCliPath };
  }
  const onPath = findOnPath('temporal', tooling.path);
  if (onPath !== undefined) return { source: 'PATH', path: onPath };
  const cached = cachedCliPath(tooling.cacheDir);
  if (existsSync(cached) && isExecutable(cached)) return { source: 'cache', path: cached };
  const go = findGo(tooling.path, goFallbacks);
  if (go !== undefined) return { source: 'go install', path: await build(go, tooling.cacheDir, progress) };
  progress('No Temporal CLI and no Go toolchain found: falling back to the SDK download (needs internet).');
  return { source: 'sdk-download' };
}

/** A local CLI binary (`resolveTemporalCli` without the SDK download, which cannot run a dev server of ours). */
export async function resolveCliBinary(
  tooling: Pick<ToolingConfig, 'temporalCliPath' | 'path' | 'cacheDir'>,
  progress: Progress,
): Promise<{ source: string; path: string }> {
  const cli = await resolveTemporalCli({ tooling, progress });
  if (cli.source === 'sdk-download') {
    throw new TemporalCliError(
      'no Temporal CLI: install Go (the launcher then builds it), put `temporal` on PATH, or set TEMPORAL_CLI_PATH',
    );
  }
  return cli;
}

/**
 * Starts `temporal server start-dev` from `cliPath` with the project's flags (`devServerArgs`) plus `extraArgs`, as
 * process `name` (default `temporal`), and resolves once its frontend answers (120 s at most).
 */
export async function startDevServer(
  cliPath: string,
  server: Omit<DevServerOptions, 'ip'> & { extraArgs?: string[] },
  options: Omit<ProcessOptions, 'command' | 'args'> & { name?: string },
): Promise<StackProcess> {
  const args = [...devServerArgs({ ...server, ip: '127.0.0.1' }), ...(server.extraArgs ?? [])];
  const proc = startProcess(options.name ?? 'temporal', { ...options, command: cliPath, args });
  const address = `127.0.0.1:${server.port}`;
  await waitReady(proc, 'the Temporal dev server', () => temporalAnswers(address), 120_000);
  return proc;
}

/** Ensures `namespace` and our search attributes on the server at `address` (temporal-config/setup.ts). */
export async function prepareNamespace(address: string, namespace: string, log: Progress): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await setupNamespace(connection, namespace, { log });
  } finally {
    await connection.close();
  }
}

/** The self-hosted server binaries of `npm run test:cluster` and the PostgreSQL schema files they install. */
export interface ClusterBinaries {
  server: string;
  sqlTool: string;
  schemaDir: string;
}

/** The cached server binaries (`<cache>/temporal-server/v<version>/`), built with `go install` when missing. */
export async function ensureClusterBinaries(
  cacheDir: string,
  pathValue: string,
  progress: Progress,
): Promise<ClusterBinaries> {
  const dir = path.join(cacheDir, 'temporal-server', `v${TEMPORAL_SERVER_VERSION}`);
  const bins = {
    server: path.join(dir, 'temporal-server'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    schemaDir: path.join(dir, 'schema'),
  };
  if (isExecutable(bins.server) && isExecutable(bins.sqlTool) && existsSync(bins.schemaDir)) return bins;
  const go = findGo(pathValue);
  if (go === undefined) {
    throw new TemporalCliError(
      `no cached Temporal server ${TEMPORAL_SERVER_VERSION} in ${dir} and no Go toolchain to build it: install Go 1.25+`,
    );
  }
  const packages = Object.values(TEMPORAL_SERVER_GO_PACKAGES);
  progress(`building ${packages.join(' and ')} with go install (first run only; 3-10 minutes)...`);
  const modCache = (await x(go, ['env', 'GOMODCACHE'])).stdout.trim();
  await goInstall(go, packages, dir, progress, (gobin) => {
    rmSync(bins.schemaDir, { recursive: true, force: true });
    const schema = path.join('postgresql', 'v12');
    cpSync(path.join(modCache, TEMPORAL_SCHEMA_MODULE_DIR, schema), path.join(bins.schemaDir, schema), {
      recursive: true,
    });
    // go install names binaries after their package directories (server, sql).
    renameSync(path.join(gobin, 'server'), bins.server);
    renameSync(path.join(gobin, 'sql'), bins.sqlTool);
  });
  return bins;
}
