import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedCliPath, resolveTemporalCli, TemporalCliError } from '../../stack';

/** Writes an executable stub and returns its path. */
function executable(file: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '#!/bin/sh\nexit 0\n');
  chmodSync(file, 0o755);
  return file;
}

describe('Temporal CLI resolution', () => {
  let dir: string;
  let pathDir: string;
  let goDir: string;
  let cacheDir: string;
  const builds: string[] = [];
  const build = (goBinary: string, cache: string): Promise<string> => {
    builds.push(goBinary);
    return Promise.resolve(executable(cachedCliPath(cache)));
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-cli-'));
    pathDir = path.join(dir, 'bin');
    goDir = path.join(dir, 'go', 'bin');
    cacheDir = path.join(dir, 'cache');
    mkdirSync(pathDir, { recursive: true });
    builds.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('when TEMPORAL_CLI_PATH is set, then it wins over PATH and the cache', async () => {
    const explicit = executable(path.join(dir, 'explicit', 'temporal'));
    executable(path.join(pathDir, 'temporal'));
    executable(cachedCliPath(cacheDir));
    const resolved = await resolveTemporalCli({
      tooling: { temporalCliPath: explicit, path: pathDir, cacheDir },
      build,
    });
    expect(resolved).toEqual({ source: 'TEMPORAL_CLI_PATH', path: explicit });
  });

  it('when TEMPORAL_CLI_PATH is not executable, then resolution fails naming it', async () => {
    await expect(
      resolveTemporalCli({ tooling: { temporalCliPath: path.join(dir, 'missing'), path: pathDir, cacheDir }, build }),
    ).rejects.toThrow(TemporalCliError);
  });

  it('when temporal is on PATH, then it is used before the cache', async () => {
    const onPath = executable(path.join(pathDir, 'temporal'));
    executable(cachedCliPath(cacheDir));
    const resolved = await resolveTemporalCli({
      tooling: { temporalCliPath: undefined, path: pathDir, cacheDir },
      build,
    });
    expect(resolved).toEqual({ source: 'PATH', path: onPath });
  });

  it('when only a cached build exists, then the cache is used and nothing is built', async () => {
    const cached = executable(cachedCliPath(cacheDir));
    const resolved = await resolveTemporalCli({
      tooling: { temporalCliPath: undefined, path: pathDir, cacheDir },
      build,
    });
    expect(resolved).toEqual({ source: 'cache', path: cached });
    expect(builds).toEqual([]);
  });

  it('when nothing exists but Go is on PATH, then it builds with go into the cache', async () => {
    const go = executable(path.join(goDir, 'go'));
    const resolved = await resolveTemporalCli({
      tooling: { temporalCliPath: undefined, path: `${pathDir}:${goDir}`, cacheDir },
      build,
      goFallbacks: [],
    });
    expect(resolved).toEqual({ source: 'go install', path: cachedCliPath(cacheDir) });
    expect(builds).toEqual([go]);
  });

  it('when there is no CLI and no Go, then it falls back to the SDK download', async () => {
    const resolved = await resolveTemporalCli({
      tooling: { temporalCliPath: undefined, path: pathDir, cacheDir },
      build: () => Promise.reject(new Error('must not build without Go')),
      goFallbacks: [path.join(dir, 'nowhere', 'go')],
    });
    expect(resolved).toEqual({ source: 'sdk-download' });
  });
});
