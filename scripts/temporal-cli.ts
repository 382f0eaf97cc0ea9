/**
 * Finds or builds the Temporal CLI (dev server + Web UI), in the order docs/design.md gives:
 * `TEMPORAL_CLI_PATH`, `temporal` on PATH, a cached build outside the repo, `go install` of the pinned release, and
 * last the SDK's own download (machines with internet). Run directly (`npm run temporal:cli`) it prints the path.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadToolingConfig, type ToolingConfig } from '../lib/config';
import { SetupError } from './setup-error';
import { TEMPORAL_CLI_GO_PACKAGE, TEMPORAL_CLI_VERSION } from '../temporal-config/dev-server';

/** Where a resolved CLI came from. */
export type CliSource = 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go install' | 'sdk-download';

/** A usable CLI: a binary path, or the SDK's cached download when nothing local exists. */
export type ResolvedCli = { source: Exclude<CliSource, 'sdk-download'>; path: string } | { source: 'sdk-download' };

/** Raised when a step of provisioning fails in a way the user must fix. */
export class TemporalCliError extends SetupError {}

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
  for (const dir of pathValue.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Path of the cached build for the pinned version. */
export function cachedCliPath(cacheDir: string): string {
  return path.join(cacheDir, 'temporal-cli', TEMPORAL_CLI_VERSION, 'temporal');
}

/** Progress callback for long steps. */
export type Progress = (line: string) => void;

/** What the first Temporal CLI build costs, said before it starts (measured on 2 cores with an empty Go cache). */
export const TEMPORAL_CLI_BUILD_TIME = 'first run only; about 5 minutes on 2 free cores, up to 10 on a busy machine';

/**
 * Runs one Go build command (`go install` / `go build`), printing a progress line every 15 s while Go works; rejects
 * with a `TemporalCliError` naming `what` and Go's last output line when it fails.
 */
export async function runGoBuild(
  goBinary: string,
  args: string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv; what: string },
  progress: Progress,
): Promise<void> {
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(goBinary, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let packages = 0;
    let lastLine = '';
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        lastLine = line;
        if (!line.startsWith('go: downloading')) packages += 1;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const ticker = setInterval(() => {
      const seconds = Math.round((Date.now() - started) / 1000);
      progress(`  ... ${seconds}s, ${packages} packages compiled (${lastLine.slice(0, 80)})`);
    }, 15_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new TemporalCliError(`could not run ${goBinary}: ${error.message}`));
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new TemporalCliError(`${options.what} failed (exit ${code}): ${lastLine}`));
    });
  });
}

/** Builds the pinned CLI with `go install` into the cache, printing progress while Go works (minutes on first run). */
export async function goInstallCli(goBinary: string, cacheDir: string, progress: Progress): Promise<string> {
  const target = cachedCliPath(cacheDir);
  const buildDir = `${path.dirname(target)}.build-${process.pid}`;
  mkdirSync(buildDir, { recursive: true });
  progress(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install (${TEMPORAL_CLI_BUILD_TIME})...`);
  const started = Date.now();
  await runGoBuild(
    goBinary,
    ['install', '-v', TEMPORAL_CLI_GO_PACKAGE],
    {
      env: { ...process.env, GOBIN: buildDir, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
      what: `go install ${TEMPORAL_CLI_GO_PACKAGE}`,
    },
    progress,
  );
  mkdirSync(path.dirname(target), { recursive: true });
  renameSync(path.join(buildDir, 'temporal'), target);
  rmSync(buildDir, { recursive: true, force: true });
  progress(`Built ${target} in ${Math.round((Date.now() - started) / 1000)}s`);
  return target;
}

/** Where Go is looked for when it is not on PATH: the standard tarball location. */
export const GO_FALLBACKS = ['/usr/local/go/bin/go'];

/** The Go toolchain on `pathValue`, else at a standard location; undefined when there is none. */
export function findGo(pathValue: string, fallbacks: string[] = GO_FALLBACKS): string | undefined {
  return findOnPath('go', pathValue) ?? fallbacks.find(isExecutable);
}

/** Resolution steps, injectable for tests. */
export interface ResolveOptions {
  tooling: Pick<ToolingConfig, 'temporalCliPath' | 'path' | 'cacheDir'>;
  progress?: Progress;
  /** Builds the CLI; defaults to `goInstallCli`. */
  build?: (goBinary: string, cacheDir: string, progress: Progress) => Promise<string>;
  /** Where to look for Go when it is not on PATH; defaults to the standard tarball location. */
  goFallbacks?: string[];
}

/** Finds the CLI, building it when needed; see the module comment for the order. */
export async function resolveTemporalCli({
  tooling,
  progress = () => undefined,
  build = goInstallCli,
  goFallbacks = GO_FALLBACKS,
}: ResolveOptions): Promise<ResolvedCli> {
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

async function main(): Promise<void> {
  const resolved = await resolveTemporalCli({
    tooling: loadToolingConfig(),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${resolved.source === 'sdk-download' ? '(sdk download)' : resolved.path}\n`);
  process.stderr.write(`source: ${resolved.source}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`orderflow: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
