/**
 * The command line of every package.json script we own (lib/cli.ts; start.cjs and test.cjs by hand): `--help` prints
 * the command's help on stdout and exits 0 before it does anything, an unknown option is one line on stderr and exit
 * 2. "Before it does anything" is checked from outside: every service address of the environment points at a trap
 * that counts connections, the tool cache must not come into existence, nothing of ours may appear in TMPDIR, and
 * every spawn has a short deadline.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { helpRequested, helpText } from '../../lib/cli';

const root = path.resolve(__dirname, '..', '..');
const scripts = (
  JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;

/** The scripts that run one of our files (`node [--import tsx] <file>`), with that file; the rest are tools' own. */
const COMMANDS = Object.entries(scripts).flatMap(([name, line]) => {
  const [, tsx, file] = /^node (--import tsx )?(\S+\.(?:ts|cjs))$/.exec(line) ?? [];
  return file === undefined ? [] : [{ name, args: [...(tsx === undefined ? [] : ['--import', 'tsx']), file] }];
});
/** Scripts that are also asked with `-h` (the others share lib/cli.ts's handling of it with `migrate`). */
const SHORT_HELP = new Set(['start', 'test', 'migrate']);
/**
 * Scripts asked with an unknown option: the launcher (its own CommonJS check), a process entry point, and commands
 * with options of their own; the others refuse it through the same `parseCommandLine` (each spawn costs a TypeScript
 * compile, and the suite shares two cores).
 */
const UNKNOWN_OPTION = new Set(['start', 'api', 'migrate', 'watch', 'bench', 'chaos']);
/** The prefix of a script's error lines: its name, `orderflow` for the launcher. */
const errorPrefix = (name: string): string => (name === 'start' ? 'orderflow' : name);

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

let trap: net.Server;
let connections = 0;
let scratch: string;
let env: NodeJS.ProcessEnv;
const outcomes = new Map<string, Outcome>();

/** Runs `args` with the trap environment; killed (code null) after 90 s. */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  trap = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  const port = (trap.address() as net.AddressInfo).port;
  scratch = mkdtempSync(path.join(os.tmpdir(), 'orderflow-cli-help-'));
  env = {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/trap`,
    TEST_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/trap`,
    REDIS_URL: `redis://127.0.0.1:${port}`,
    TEST_REDIS_URL: `redis://127.0.0.1:${port}`,
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    TEST_TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    HOST: '127.0.0.1',
    REALTIME_PORT: String(port),
    ORDERFLOW_CACHE_DIR: path.join(scratch, 'cache'),
    TEMPORAL_CLI_PATH: path.join(scratch, 'no-temporal'),
    TMPDIR: path.join(scratch, 'tmp'), // tsx keeps its compile cache there too
  };
  mkdirSync(path.join(scratch, 'tmp'));
  // Two at a time (two cores): each is a node process compiling TypeScript.
  const jobs = COMMANDS.flatMap(({ name, args }) => [
    { key: `${name} --help`, args: [...args, '--help'] },
    ...(SHORT_HELP.has(name) ? [{ key: `${name} -h`, args: [...args, '-h'] }] : []),
    ...(UNKNOWN_OPTION.has(name) ? [{ key: `${name} --bogus-flag`, args: [...args, '--bogus-flag'] }] : []),
  ]);
  const next = async (): Promise<void> => {
    for (let job = jobs.shift(); job !== undefined; job = jobs.shift()) outcomes.set(job.key, await run(job.args, env));
  };
  await Promise.all([next(), next()]);
}, 240_000);

afterAll(async () => {
  await new Promise<void>((resolve) => trap.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

describe('command line help', () => {
  it('when package.json is read, then every script of ours is covered (the launchers, the entry points, the tools)', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(
      expect.arrayContaining(['start', 'test', 'migrate', 'api', 'worker', 'realtime', 'codec-server', 'test:cluster']),
    );
    expect(COMMANDS.length).toBeGreaterThanOrEqual(17);
  });

  it.each(COMMANDS.map((c) => c.name))(
    'when `%s` gets --help or -h, then it prints its usage, environment and an example and exits 0',
    (name) => {
      for (const flag of SHORT_HELP.has(name) ? ['--help', '-h'] : ['--help']) {
        const outcome = outcomes.get(`${name} ${flag}`);
        expect(outcome).toMatchObject({ code: 0, stderr: '' });
        expect(outcome?.stdout).toMatch(/^usage: /);
        expect(outcome?.stdout).toMatch(/\n\nenvironment:\n {2}[A-Z]/);
        expect(outcome?.stdout).toMatch(/\n\nexamples?:\n {2}\S/);
        expect(outcome?.stdout).toContain('-h, --help');
      }
    },
  );

  it.each([...UNKNOWN_OPTION])(
    'when `%s` gets an unknown option, then it says so in one line naming it and exits 2',
    (name) => {
      const outcome = outcomes.get(`${name} --bogus-flag`);
      expect(outcome).toMatchObject({ code: 2, stdout: '' });
      expect(outcome?.stderr).toMatch(
        new RegExp(`^${errorPrefix(name)}: unknown option '--bogus-flag'; usage: [^\\n]+; try --help\\n$`),
      );
    },
  );

  it('when every command has answered, then none connected to a service, built a tool or made a work directory', () => {
    expect(outcomes.size).toBeGreaterThan(0);
    expect(connections).toBe(0);
    expect(existsSync(path.join(scratch, 'cache'))).toBe(false);
    expect(readdirSync(path.join(scratch, 'tmp')).filter((name) => name.startsWith('orderflow'))).toEqual([]);
  });

  it('when a command does its work in the same environment, then the trap sees it connect (the check above can fail)', async () => {
    const before = connections;
    const seed = await run(['--import', 'tsx', 'scripts/seed.ts'], env);
    expect(seed.code).toBe(1);
    expect(connections).toBeGreaterThan(before);
  });
});

describe('lib/cli', () => {
  it('when --help or -h comes before a `--`, then help is asked for; after it, it is data', () => {
    expect(helpRequested(['up', '--help'])).toBe(true);
    expect(helpRequested(['-h'])).toBe(true);
    expect(helpRequested(['--', '--help'])).toBe(false);
    expect(helpRequested(['--helpful', '-hx'])).toBe(false);
  });

  it('when a help text is rendered, then its sections come in order and long lines wrap under their column', () => {
    const text = helpText({
      name: 'demo',
      usage: 'usage: npm run demo -- <x>',
      summary: 'Does a thing. '.repeat(12),
      arguments: [['<x>', 'what to do it to, '.repeat(8)]],
      environment: [['DEMO_URL', 'where']],
      example: 'npm run demo -- 1',
      more: 'README.md',
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('usage: npm run demo -- <x>');
    expect(lines.every((line) => line.length <= 100)).toBe(true);
    expect(text).toMatch(/\n\narguments:\n {2}<x> {9}what to do it to,.*\n {14}\S/);
    expect(text).toMatch(/\n {2}-h, --help {2}print this help and exit\n/);
    expect(text).toContain('\n\nenvironment:\n  DEMO_URL  where\n');
    expect(text.endsWith('\n\nexample:\n  npm run demo -- 1\n\nmore: README.md\n')).toBe(true);
  });
});

test('when npm run token is given a customer id the API would refuse, then it mints nothing and says why', () => {
  const minted = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/token.ts', 'evil\u202Egnp'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 90_000,
  });
  expect(minted.status).toBe(2);
  expect(minted.stdout).toBe('');
  expect(minted.stderr).toMatch(/^token: the customer id must not contain bidirectional control characters/);
});
