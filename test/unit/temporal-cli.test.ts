import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedCliPath, resolveTemporalCli, TemporalCliError } from '../../stack';

/** The options `resolveTemporalCli` takes. */
type ResolveOptions = Parameters<typeof resolveTemporalCli>[0];
import { executableStub } from '../support/files';

describe('Temporal CLI resolution', () => {
  let dir: string;
  let pathDir: string;
  let goDir: string;
  let cacheDir: string;
  const builds: string[] = [];
  const build = (goBinary: string, cache: string): Promise<string> => {
    builds.push(goBinary);
    return Promise.resolve(executableStub(cachedCliPath(cache)));
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
  /** Resolves with PATH = pathDir and the cache in cacheDir; TEMPORAL_CLI_PATH as given. */
  const resolveWith = (temporalCliPath: string | undefined, options: Partial<ResolveOptions> = {}) =>
    resolveTemporalCli({ tooling: { temporalCliPath, path: pathDir, cacheDir }, build, ...options });

  it('when TEMPORAL_CLI_PATH is set, then it wins over PATH and the cache', async () => {
    const explicit = executableStub(path.join(dir, 'explicit', 'temporal'));
    executableStub(path.join(pathDir, 'temporal'));
    executableStub(cachedCliPath(cacheDir));
    const resolved = await resolveWith(explicit);
    expect(resolved).toEqual({ source: 'TEMPORAL_CLI_PATH', path: explicit });
  });

  it('when TEMPORAL_CLI_PATH is not executable, then resolution fails naming it', async () => {
    await expect(resolveWith(path.join(dir, 'missing'))).rejects.toThrow(TemporalCliError);
  });

  it('when temporal is on PATH, then it is used before the cache', async () => {
    const onPath = executableStub(path.join(pathDir, 'temporal'));
    executableStub(cachedCliPath(cacheDir));
    const resolved = await resolveWith(undefined);
    expect(resolved).toEqual({ source: 'PATH', path: onPath });
  });

  it('when only a cached build exists, then the cache is used and nothing is built', async () => {
    const cached = executableStub(cachedCliPath(cacheDir));
    const resolved = await resolveWith(undefined);
    expect(resolved).toEqual({ source: 'cache', path: cached });
    expect(builds).toEqual([]);
  });

  it('when nothing exists but Go is on PATH, then it builds with go into the cache', async () => {
    const go = executableStub(path.join(goDir, 'go'));
    const resolved = await resolveWith(undefined, {
      tooling: { temporalCliPath: undefined, path: `${pathDir}:${goDir}`, cacheDir },
      goFallbacks: [],
    });
    expect(resolved).toEqual({ source: 'go install', path: cachedCliPath(cacheDir) });
    expect(builds).toEqual([go]);
  });

  it('when there is no CLI and no Go, then it falls back to the SDK download', async () => {
    const resolved = await resolveWith(undefined, {
      build: () => Promise.reject(new Error('must not build without Go')),
      goFallbacks: [path.join(dir, 'nowhere', 'go')],
    });
    expect(resolved).toEqual({ source: 'sdk-download' });
  });
});
