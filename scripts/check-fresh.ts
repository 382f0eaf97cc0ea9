/**
 * `npm run check:fresh`: the README's promise checked the way a new user meets it: `npm start` and `npm test` in a
 * fresh clone of HEAD, in a new 0700 directory with a fresh HOME (so no npm, Go or tool cache), as whoever runs it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCommandLine, type Command } from '../lib/cli';
import { loadToolingConfig } from '../lib/config';
import { exitedWithin, freePort, portOpen, signalGroup, startProcess, stopGroup, waitUntil } from '../stack';
import { runMain } from './command';
import { messageOf } from '../lib/error-text';

const source = path.resolve(__dirname, '..');

// `safe.directory`: this checkout may be another user's. Git before 2.42 reads it only from a global file.
function git(args: string[]): string {
  const globalConfig = path.join(os.tmpdir(), `orderflow-check-fresh-gitconfig-${process.pid}`);
  fs.writeFileSync(globalConfig, '[safe]\n\tdirectory = *\n');
  try {
    return execFileSync('git', args, {
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_GLOBAL: globalConfig },
    }).trim();
  } finally {
    fs.rmSync(globalConfig, { force: true });
  }
}

const CHECK_FRESH: Command = {
  name: 'check:fresh',
  usage: 'usage: npm run check:fresh [-- --reuse-cache] [--skip-test] [--keep]',
  summary:
    "Checks the README's promise the way a new user meets it: clones the committed HEAD of this checkout into a new private (0700) directory and there, with a fresh HOME, runs npm start (ready line, /health and /ready, an order reaching COMPLETED, Ctrl-C freeing every port) and npm test (its exit code). Prints the time of every step; exits 1 naming the first step that failed.",
  arguments: [
    ['--reuse-cache', 'use your tool cache (ORDERFLOW_CACHE_DIR) instead of an empty one: no Temporal CLI rebuild'],
    ['--skip-test', 'check npm start only'],
    ['--keep', 'keep the directory (it is kept anyway when a step fails)'],
  ],
  environment: [
    ['ORDERFLOW_CACHE_DIR', 'the tool cache --reuse-cache reuses (default ~/.cache/orderflow)'],
    ['TMPDIR', 'where the check directory is created'],
  ],
  example: 'npm run check:fresh -- --reuse-cache --skip-test',
};

const args = parseCommandLine(CHECK_FRESH, {
  options: { 'reuse-cache': { type: 'boolean' }, 'skip-test': { type: 'boolean' }, keep: { type: 'boolean' } },
}).values;

const timings: { step: string; seconds: number; ok: boolean }[] = [];
const say = (line: string): void => void process.stdout.write(`[check:fresh] ${line}\n`);

/** Runs one step, records its time, and stops the check with its name when it fails. */
async function step<T>(name: string, run: () => Promise<T> | T): Promise<T> {
  say(`${name}...`);
  const started = Date.now();
  const record = (ok: boolean): number => timings.push({ step: name, seconds: (Date.now() - started) / 1000, ok });
  try {
    const result = await run();
    record(true);
    say(`${name}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return result;
  } catch (error) {
    record(false);
    throw new Error(`${name}: ${messageOf(error)}`);
  }
}

/** The ports `npm start` binds, by the variable that moves each. */
const PORTS: Record<string, number> = {
  PORT: 3000,
  REALTIME_PORT: 3001,
  METRICS_PORT: 9464,
  CODEC_PORT: 8888,
  TEMPORAL_DEV_PORT: 7233,
  TEMPORAL_UI_PORT: 8233,
  EMBEDDED_PG_PORT: 5433,
};

/** The default ports when all are free (the README's case), else free ones (another stack runs here). */
async function choosePorts(): Promise<Record<string, number>> {
  const taken = [];
  for (const port of Object.values(PORTS)) if (await portOpen('127.0.0.1', port)) taken.push(port);
  if (taken.length === 0) return { ...PORTS };
  say(`ports ${taken.join(', ')} are in use here: npm start gets free ports instead`);
  const chosen: Record<string, number> = {};
  for (const name of Object.keys(PORTS)) chosen[name] = await freePort();
  return chosen;
}

/** Runs `npm <script>` in its own process group, as a terminal would: every line to `log` and `onLine`. */
function runNpm(script: string, cwd: string, env: NodeJS.ProcessEnv, log: string, onLine: (line: string) => void) {
  const file = fs.createWriteStream(log);
  file.on('error', (error) => say(`cannot write ${log}: ${error.message}`));
  const began = Date.now();
  const proc = startProcess(`npm ${script}`, {
    command: 'npm',
    args: [script],
    cwd,
    env,
    detached: true,
    keepLines: 20,
    onLine: (line) => {
      // A grandchild may still write after the exit was reported (and the file ended): the line still counts.
      if (!file.writableEnded) file.write(`${line}\n`);
      if (SHOWN.test(line.trim())) say(`  | +${Math.round((Date.now() - began) / 1000)}s ${line.trim()}`);
      onLine(line);
    },
  });
  void proc.exited.then(() => file.end());
  return proc;
}

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

/** Lines of the launchers' own progress worth showing live (the rest is in the log files). */
const SHOWN =
  /^(orderflow:|\[postgres\]|\[test tools\]|\[test setup\]|Building|Built|\.\.\. \d+s,|tests: \d+ passed|Tests:|PostgreSQL:|Redis:|Temporal:|Initialising|Copying|The cluster)/;

async function checkStart(clone: string, env: NodeJS.ProcessEnv, dir: string): Promise<void> {
  const ports = await choosePorts();
  const startEnv = { ...env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
  const log = path.join(dir, 'npm-start.log');
  say(`npm start (output in ${log})`);
  let ready = false;
  let token: string | undefined;
  let lastLine = '';
  let stopped = false;
  const child = runNpm('start', clone, startEnv, log, (line) => {
    if (lastLine.startsWith('Dev token')) token = line.trim(); // the line after it (output lines are never blank)
    lastLine = line;
    if (line === 'Stopped.') stopped = true;
    if (line.startsWith('OrderFlow is up:')) ready = true;
  });
  try {
    await step('npm start: ready line', () =>
      waitUntil(
        'the ready line',
        () => {
          if (child.hasExited()) throw new Error(`npm start ended: ${lastLine}`);
          return Promise.resolve(ready && token !== undefined);
        },
        30 * 60_000,
      ),
    );
    const api = `http://127.0.0.1:${ports.PORT}`;
    await step('npm start: health probe', async () => {
      for (const probe of ['/health', '/ready']) {
        const { status } = await json(`${api}${probe}`);
        if (status !== 200) throw new Error(`GET ${probe} answered ${status}`);
      }
    });
    await step('npm start: an order reaches COMPLETED', async () => {
      const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
      const products = (await json(`${api}/products`)).body as { sku: string; stock: number }[];
      const product = products.find((p) => p.stock > 0);
      if (product === undefined) throw new Error('no product in stock');
      const created = await json(`${api}/orders`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ items: [{ sku: product.sku, quantity: 1 }], payment: { token: 'tok_ok' } }),
      });
      const orderId = (created.body as { orderId?: string } | undefined)?.orderId;
      if (created.status !== 201 || orderId === undefined) {
        throw new Error(`POST /orders answered ${created.status}: ${JSON.stringify(created.body)}`);
      }
      let status = '';
      await waitUntil(
        `order ${orderId} to reach COMPLETED`,
        async () => {
          status = ((await json(`${api}/orders/${orderId}`, { headers })).body as { status: string }).status;
          return status === 'COMPLETED';
        },
        60_000,
      ).catch(() => {
        throw new Error(`order ${orderId} is ${status} after 60 s`);
      });
    });
    await step('npm start: Ctrl-C stops it and frees its ports', async () => {
      signalGroup(child, 'SIGINT');
      // npm itself dies of the SIGINT, as in a terminal; the launcher under it must have stopped everything cleanly.
      const how = await exitedWithin(child, 60_000);
      if (!stopped || (how !== 'exit 0' && how !== 'SIGINT')) {
        throw new Error(`npm start ended with ${how} after Ctrl-C: ${lastLine}`);
      }
      const open = [];
      for (const [name, port] of Object.entries(ports))
        if (await portOpen('127.0.0.1', port)) open.push(`${name}=${port}`);
      if (open.length > 0) throw new Error(`ports still open after it stopped: ${open.join(', ')}`);
    });
  } finally {
    await stopGroup(child, 60_000);
  }
}

async function checkTest(clone: string, env: NodeJS.ProcessEnv, dir: string): Promise<void> {
  const log = path.join(dir, 'npm-test.log');
  say(`npm test (output in ${log})`);
  await step('npm test: exit code 0', async () => {
    let summary = '';
    const child = runNpm('test', clone, env, log, (line) => {
      if (/^tests: \d+ passed/.test(line)) summary = line;
    });
    const how = await exitedWithin(child, 60 * 60_000);
    if (how !== 'exit 0') throw new Error(`npm test ended with ${how} (${summary || 'no summary'}; see ${log})`);
  });
}

/** Deletes the check's directory, and the cluster root's npm start kept outside it (stack/postgres-root.ts). */
function removeCheckout(dir: string, clone: string): void {
  const data = path.join(clone, '.data', 'postgres');
  if (fs.lstatSync(data, { throwIfNoEntry: false })?.isSymbolicLink() === true) {
    fs.rmSync(fs.readlinkSync(data), { recursive: true, force: true });
  }
  // Go keeps its module cache read-only: make it writable first, or only root could delete it.
  execFileSync('chmod', ['-R', 'u+w', dir]);
  fs.rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const user = os.userInfo().username;
  const started = Date.now();
  const head = git(['-C', source, 'rev-parse', 'HEAD']);
  const dirty = git(['-C', source, 'status', '--porcelain', '--untracked-files=no']);
  if (dirty !== '') say('note: uncommitted changes here are not part of the check (it clones the committed HEAD)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-fresh-'));
  fs.chmodSync(dir, 0o700);
  const clone = path.join(dir, 'orderflow');
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { mode: 0o700 });
  const tooling = loadToolingConfig();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    USER: user,
    LANG: process.env.LANG ?? 'C.UTF-8',
    TMPDIR: process.env.TMPDIR,
    ORDERFLOW_CACHE_DIR: args['reuse-cache'] === true ? tooling.cacheDir : undefined,
  };
  say(`user ${user}; commit ${head.slice(0, 12)}; directory ${dir} (mode 0700); HOME ${home}`);
  say(
    args['reuse-cache'] === true
      ? `reusing the tool cache ${tooling.cacheDir} (Temporal CLI, Chromium, Compose loader)`
      : 'empty tool cache: the first npm start builds the Temporal CLI (minutes)',
  );
  let failure: Error | undefined;
  try {
    await step('clone', () => {
      const common = path.resolve(source, git(['-C', source, 'rev-parse', '--git-common-dir']));
      git(['clone', '--quiet', '--no-hardlinks', '--no-checkout', common, clone]);
      git(['-C', clone, 'checkout', '--quiet', '--detach', head]);
    });
    await checkStart(clone, env, dir);
    if (args['skip-test'] !== true) await checkTest(clone, env, dir);
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
  }
  say('');
  const load = os.loadavg().map((l) => l.toFixed(2));
  say(`timings (user ${user}, ${os.cpus().length} cores, load ${load.join(' ')}):`);
  for (const t of timings) say(`  ${t.ok ? 'ok  ' : 'FAIL'} ${t.seconds.toFixed(1).padStart(7)} s  ${t.step}`);
  say(`  total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (args.keep === true || failure !== undefined) say(`kept ${dir}`);
  else removeCheckout(dir, clone);
  if (failure !== undefined) {
    say(`FAILED: ${failure.message}`);
    process.exit(1);
  }
  say('passed');
}

runMain('check:fresh', main);
