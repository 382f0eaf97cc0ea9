/**
 * The tools some suites need besides the services, provisioned by `npm test` into the same cache as the Temporal CLI
 * (`~/.cache/orderflow`, shared by every clone), so a fresh machine needs nothing installed by hand:
 *
 * - a headless Chromium for test/e2e/demo-page.test.ts: `CHROMIUM_PATH` if set, else the build the
 *   `@sparticuz/chromium` npm package ships (with its own libraries and fonts), unpacked once (~20 s);
 * - the Compose loader for test/integration/compose.test.ts: `compose-config`, built once with `go build` from
 *   stack/compose-config (compose-go, the library Docker Compose loads files with; ~1 minute).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ToolingConfig } from '../lib/config';
import { REPO_ROOT as root } from './process';
import { SetupError } from './ready';
import { findGo, isExecutable, resolveTemporalCli, runGoBuild, type Progress } from './temporal';

/** Raised when a tool cannot be provisioned; the message says what to do. */
export class TestToolError extends SetupError {}

/** Moves a finished build directory into place; when another run got there first, keeps theirs. */
function publish(buildDir: string, target: string): void {
  try {
    renameSync(buildDir, target);
  } catch (error) {
    rmSync(buildDir, { recursive: true, force: true });
    if (!existsSync(target)) throw error;
  }
}

/** Directory and version of the installed `@sparticuz/chromium` package. */
function chromiumPackage(): { dir: string; version: string } {
  let entry: string;
  try {
    entry = require.resolve('@sparticuz/chromium');
  } catch {
    throw new TestToolError('the @sparticuz/chromium package is missing: run `npm ci` (npm test does it for you)');
  }
  const dir = path.resolve(path.dirname(entry), '..', '..');
  const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
  return { dir, version };
}

/**
 * A headless Chromium the tests can launch: `CHROMIUM_PATH`, else a launcher script in
 * `<cache>/chromium/<package version>/` that runs the packaged build with its bundled libraries and fonts.
 */
export function resolveChromium(
  tooling: Pick<ToolingConfig, 'chromiumPath' | 'cacheDir'>,
  progress: Progress = () => undefined,
): string {
  if (tooling.chromiumPath !== undefined) {
    if (!isExecutable(tooling.chromiumPath)) {
      throw new TestToolError(`CHROMIUM_PATH=${tooling.chromiumPath} is not an executable file`);
    }
    return tooling.chromiumPath;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new TestToolError(
      `the packaged Chromium runs on Linux x64 only (this is ${process.platform} ${process.arch}): set CHROMIUM_PATH to a Chrome or Chromium binary`,
    );
  }
  const pkg = chromiumPackage();
  const dir = path.join(tooling.cacheDir, 'chromium', pkg.version);
  const launcher = path.join(dir, 'chromium.sh');
  if (isExecutable(launcher)) return launcher;

  progress(`Unpacking headless Chromium (@sparticuz/chromium ${pkg.version}) into ${dir} (first run only; ~20 s)...`);
  const started = Date.now();
  const buildDir = `${dir}.build-${process.pid}`;
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  // The package unpacks into the temporary directory; pointed at our build directory it fills that instead. The
  // Lambda runtime marker makes it unpack the libraries it ships too, so no system package is needed.
  const unpack = spawnSync(
    process.execPath,
    ['-e', "require('@sparticuz/chromium').executablePath().then((p) => process.stdout.write(p))"],
    {
      cwd: root,
      env: { ...process.env, TMPDIR: buildDir, AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x' },
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  if (unpack.status !== 0 || !existsSync(path.join(buildDir, 'chromium'))) {
    rmSync(buildDir, { recursive: true, force: true });
    const reason = (unpack.stderr || unpack.error?.message || 'unknown error').trim().split('\n').pop();
    throw new TestToolError(`could not unpack Chromium from @sparticuz/chromium (${reason}): set CHROMIUM_PATH`);
  }
  // Its fontconfig file names the temporary directory it expects (/tmp/fonts); point it at ours.
  const fontsConf = path.join(buildDir, 'fonts', 'fonts.conf');
  writeFileSync(fontsConf, readFileSync(fontsConf, 'utf8').replaceAll('/tmp/fonts', path.join(dir, 'fonts')));
  writeFileSync(
    path.join(buildDir, 'chromium.sh'),
    [
      '#!/bin/sh',
      '# Headless Chromium from @sparticuz/chromium with the libraries and fonts it ships (stack/tools.ts).',
      `dir='${dir}'`,
      'LD_LIBRARY_PATH="$dir/al2023/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" FONTCONFIG_PATH="$dir/fonts" exec "$dir/chromium" "$@"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  mkdirSync(path.dirname(dir), { recursive: true });
  publish(buildDir, dir);
  progress(`Chromium ready in ${Math.round((Date.now() - started) / 1000)}s: ${launcher}`);
  return launcher;
}

/** Source of the Compose loader; its files' hash names the cached build, so an edit rebuilds it. */
const COMPOSE_CONFIG_SOURCE = path.join(root, 'stack', 'compose-config');

/** Path of the cached `compose-config` build for the current source. */
export function composeConfigPath(cacheDir: string): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(path.join(COMPOSE_CONFIG_SOURCE, file)));
  return path.join(cacheDir, 'compose-config', hash.digest('hex').slice(0, 12), 'compose-config');
}

/** The Compose loader binary, built with Go into the cache on first use. */
export async function resolveComposeConfig(
  tooling: Pick<ToolingConfig, 'path' | 'cacheDir'>,
  progress: Progress = () => undefined,
): Promise<string> {
  const target = composeConfigPath(tooling.cacheDir);
  if (isExecutable(target)) return target;
  const go = findGo(tooling.path);
  if (go === undefined) {
    throw new TestToolError(
      'no Go toolchain to build the Compose loader the compose test uses: install Go 1.24+ (https://go.dev/dl) on PATH or in /usr/local/go',
    );
  }
  progress('Building the Compose loader (compose-go) with go build (first run only; about 1 minute)...');
  const started = Date.now();
  const buildDir = `${path.dirname(target)}.build-${process.pid}`;
  mkdirSync(buildDir, { recursive: true });
  try {
    await runGoBuild(
      go,
      ['build', '-o', path.join(buildDir, 'compose-config'), '.'],
      {
        cwd: COMPOSE_CONFIG_SOURCE,
        what: 'go build of stack/compose-config',
      },
      progress,
    );
  } catch (error) {
    rmSync(buildDir, { recursive: true, force: true });
    throw error;
  }
  mkdirSync(path.dirname(path.dirname(target)), { recursive: true });
  publish(buildDir, path.dirname(target));
  progress(`Built ${target} in ${Math.round((Date.now() - started) / 1000)}s`);
  return target;
}

/** Everything `npm test` needs on this machine besides PostgreSQL and Redis, provisioned in order with progress. */
export async function provisionTestTools(tooling: ToolingConfig, progress: Progress): Promise<void> {
  const cli = await resolveTemporalCli({ tooling, progress });
  progress(`Temporal CLI: ${cli.source === 'sdk-download' ? 'the SDK download' : cli.path} (${cli.source})`);
  progress(`Chromium: ${resolveChromium(tooling, progress)}`);
  progress(`Compose loader: ${await resolveComposeConfig(tooling, progress)}`);
}
