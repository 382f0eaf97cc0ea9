/**
 * `npm run bench -- [scenario...] [--quick] [options]`: runs benchmark scenarios (not part of the test suite); with
 * no scenario named, every one. Each scenario lives in `bench/scenarios/<name>.ts` and exports `run(options)`; they all
 * run in one process on one shared stack (bench/support/stack.ts: PostgreSQL, Redis, Temporal, and the worker, API
 * and relay processes), in one go, so ratios between them hold on a shared, noisy machine. Prints a table, writes
 * `bench/results/<timestamp>.json` and `.svg` (latency distributions), and exits 1 when a DESIGN invariant was
 * violated or a scenario failed. Everything it started is stopped at the end, on Ctrl-C and on errors.
 *
 * Options: `--quick` (a reduced run of every scenario, under a minute), `--concurrency=N` (closed-loop clients),
 * `--rounds=N` (interleaved rounds of minimal/floor/hot/spread; default 3, quick 1), `--drain=S` (pause after each;
 * default 11, quick 2), `--no-knee`, `--low-load` (spread: one open-loop step at 20% of capacity when no knee ramp
 * runs); `--compare[=REF]` (revision REF, default HEAD~1, against this working tree in alternating rounds; default
 * scenario spread); tuning experiments: `--env=KEY=value` (worker/API/relay environment),
 * `--dynamic-config=key=value` and `--sqlite-pragma=key=value` (a dev server the bench starts), `--node-arg=FLAG`
 * (e.g. `--cpu-prof`), `--app-root=DIR` (spawn the entry points of a copy of the repository). See docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { parseCommandLine as parseWith, usageError, type Command } from '../lib/cli';
import { renderChart } from './chart';
import { checkoutRevision, DEFAULT_BASE, reportComparison, type SideRound } from './support/compare';
import { formatCounts } from './support/history';
import { loadFigures, mergeLoadReports, rate, stackCpuMsPerOp, type LoadReport } from './support/report';
import { round } from './support/stats';
import { pause } from './support/load';
import { DEFAULT_CONCURRENCY } from './support/scenario';
import { REPO_ROOT, startStack, type BenchStack, type StackOptions } from './support/stack';
import type { BenchOptions, ScenarioModule, ScenarioResult, ScenarioSettings } from './contract';

const SCENARIOS = ['reserve', 'api', 'realtime', 'minimal', 'floor', 'spread', 'hot', 'export'] as const;
/**
 * Scenarios whose ratios are goals, in the order they interleave: rounds of minimal, floor, hot, spread, minimal, ...
 * so a burst of load from elsewhere on the machine hits all of them alike. spread comes last so its knee ramp (in its
 * last round) ends the run and overloads nothing that is still to be measured.
 */
const INTERLEAVED = ['minimal', 'floor', 'hot', 'spread'];
/** Scenarios that need Temporal (started up front so the scenarios' own timings exclude it). */
const NEEDS_TEMPORAL = new Set(['api', 'minimal', 'floor', 'spread', 'hot', 'export']);
/**
 * Pause after each load scenario, full and quick. Temporal does part of the work of a workflow ~10 s after its tasks
 * ran: the workflow-task and activity start-to-close timeout timers (10 s) fire then, one check each, even for tasks
 * long completed. Without a pause that work lands in the next scenario's window, slows it and is billed to it: spread,
 * which followed the faster floor, paid for the floor's timers (Temporal CPU per order +10 to +25% in early runs).
 * Quick runs pause 2 s (the next warm-up absorbs part of the rest; a quick run is indicative, not exact) and skip the
 * pause after the last scenario.
 */
const DRAIN_SECONDS = { full: 11, quick: 2 };

/** Longest a run may take before it is stopped (bounded in time, whatever happens). */
const RUN_LIMIT_MS = { quick: 5 * 60_000, full: 30 * 60_000 };

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function gitRevision(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: __dirname, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** True when the working tree has changes to tracked files (what `--compare` measures as B includes them). */
function gitDirty(): boolean {
  try {
    return (
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      }).trim().length > 0
    );
  } catch {
    return false;
  }
}

/** Splits `KEY=value` options into an object. */
function keyValues(values: string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at <= 0) throw new Error(`--${option} expects KEY=value, got "${value}"`);
    out[value.slice(0, at)] = value.slice(at + 1);
  }
  return out;
}

/** Merges the rounds of one scenario into one result (load merged, violations and deadlocks summed). */
function mergeRounds(rounds: ScenarioResult[]): ScenarioResult {
  const failed = rounds.find((r) => r.error !== undefined);
  const [first] = rounds;
  if (first === undefined) throw new Error('no round to merge');
  if (failed !== undefined) return failed;
  const loads = rounds.flatMap((r) => (r.load === undefined ? [] : [r.load]));
  const load = loads.length > 0 ? mergeLoadReports(loads) : undefined;
  const statuses: Record<string, number> = {};
  for (const r of rounds) {
    for (const [status, count] of Object.entries(r.orderStatuses ?? {}))
      statuses[status] = (statuses[status] ?? 0) + count;
  }
  const withDeadlocks = rounds.filter((r) => r.deadlocks !== undefined);
  const deadlocks = withDeadlocks.reduce((sum, r) => sum + (r.deadlocks ?? 0), 0);
  const figures: Record<string, number | string> = load === undefined ? { ...first.figures } : loadFigures(load);
  if (withDeadlocks.length > 0) figures['deadlocks (pg_stat_database delta)'] = deadlocks;
  if (Object.keys(statuses).length > 0) figures['orders by status'] = JSON.stringify(statuses);
  return {
    scenario: first.scenario,
    figures,
    ...(load !== undefined ? { load } : {}),
    ...(rounds.some((r) => r.violations !== undefined)
      ? { violations: rounds.flatMap((r) => r.violations ?? []) }
      : {}),
    ...(withDeadlocks.length > 0 ? { deadlocks } : {}),
    ...(Object.keys(statuses).length > 0 ? { orderStatuses: statuses } : {}),
  };
}

/** A right-aligned table cell; latencies print as whole milliseconds (one decimal below 10 ms). */
const cell = (value: number | string | undefined, width: number): string => {
  const text =
    typeof value === 'number' && Number.isFinite(value)
      ? value >= 10
        ? String(Math.round(value))
        : value.toFixed(1)
      : String(value ?? '-');
  return ` ${text.padStart(width - 1)}`;
};

/** The summary table: one row per scenario, the standard columns for load scenarios. */
function printTable(results: ScenarioResult[]): void {
  const head =
    `${'scenario'.padEnd(9)}${cell('ops/s', 7)}${cell('wft/act/la/events', 18)}${cell('CPU ms/op', 10)}${cell('accept p50', 11)}${cell('p95', 7)}${cell('p99', 7)}` +
    `${cell('done p50', 9)}${cell('p95', 7)}${cell('p99', 7)}  ${'peak RSS MiB'.padEnd(34)} ${'invariants'.padEnd(11)}goal`;
  log('');
  log(head);
  log('-'.repeat(head.length + 6));
  for (const result of results) {
    const load = result.load;
    const rss =
      load === undefined
        ? ''
        : Object.entries(load.peakRssMb)
            .map(([name, mb]) => `${name.replace(' worker', '')} ${Math.round(mb)}`)
            .join(', ');
    const invariants =
      result.violations === undefined ? '-' : result.violations.length === 0 ? 'ok' : `${result.violations.length} BAD`;
    const goal =
      result.error !== undefined
        ? `FAILED: ${result.error.split('\n')[0]}`
        : result.goal === undefined
          ? ''
          : `${result.goalMet === undefined ? 'n/a' : result.goalMet ? 'met' : 'NOT met'}: ${result.goal}`;
    log(
      `${result.scenario.padEnd(9)}${cell(load === undefined ? undefined : load.throughput.toFixed(1), 7)}` +
        `${cell(formatCounts(load?.history), 18)}` +
        `${cell(load === undefined ? undefined : stackCpuMsPerOp(load), 10)}` +
        `${cell(load?.accepted.p50, 11)}${cell(load?.accepted.p95, 7)}${cell(load?.accepted.p99, 7)}` +
        `${cell(load?.done.p50, 9)}${cell(load?.done.p95, 7)}${cell(load?.done.p99, 7)}` +
        `  ${rss.padEnd(34)} ${invariants.padEnd(11)}${goal}`,
    );
  }
  log('(ops/s: orders/s, minimal and floor: workflows/s; wft/act/la/events: per workflow, workflow tasks, activity');
  log(' tasks, local activities, history events (mean of a sample of histories); accept = POST -> 201 or update');
  log(' result; done = POST -> COMPLETED event on Socket.IO or workflow result; latencies in ms; CPU ms/op = CPU of');
  log(' Temporal and our processes (and PostgreSQL backends) per operation; peak RSS = VmHWM during the closed loop)');
}

/** Ratios between scenarios of the run, for the table footer and the results file. */
function ratios(results: ScenarioResult[]): Record<string, number | string> {
  const rateOf = (name: string): number | undefined => {
    const load = results.find((r) => r.scenario === name)?.load;
    return load === undefined ? undefined : rate(load);
  };
  const out: Record<string, number | string> = {};
  const [minimal, floor, spread, hot] = [rateOf('minimal'), rateOf('floor'), rateOf('spread'), rateOf('hot')];
  if (minimal !== undefined && spread !== undefined) out['spread/minimal (goal >= 0.5)'] = round(spread / minimal);
  if (floor !== undefined && spread !== undefined) out['spread/floor (goal >= 0.8)'] = round(spread / floor);
  if (spread !== undefined && hot !== undefined) out['hot/spread (goal >= 0.9)'] = round(hot / spread);
  const knee = results.find((r) => r.scenario === 'spread')?.load?.knee;
  if (knee !== undefined) out['spread knee, offered orders/s'] = knee.kneeRate ?? 'not reached';
  return out;
}

/** Every option of the bench and its scenarios (scenarios get theirs as `BenchOptions.settings`). */
const OPTIONS = {
  quick: { type: 'boolean', default: false },
  compare: { type: 'string' },
  rounds: { type: 'string' },
  drain: { type: 'string' },
  concurrency: { type: 'string' },
  clients: { type: 'string' },
  rate: { type: 'string' },
  'no-knee': { type: 'boolean' },
  'low-load': { type: 'boolean' },
  env: { type: 'string', multiple: true, default: [] as string[] },
  'dynamic-config': { type: 'string', multiple: true, default: [] as string[] },
  'sqlite-pragma': { type: 'string', multiple: true, default: [] as string[] },
  'node-arg': { type: 'string', multiple: true, default: [] as string[] },
  'app-root': { type: 'string' },
} satisfies ParseArgsConfig['options'];

/** What `npm run bench -- --help` prints; docs/benchmarks.md says more about every option. */
const BENCH: Command = {
  name: 'bench',
  usage: 'usage: npm run bench -- [scenario...] [--quick] [--compare[=REF]] [options]',
  summary:
    'Runs benchmark scenarios (every one unless some are named) on one shared stack it provisions and stops at the end (PostgreSQL, Redis, Temporal; the worker, API and relay processes), prints a table and writes bench/results/<timestamp>.json and .svg. Exits 1 when a DESIGN invariant was violated or a scenario failed. Not part of the test suite.',
  arguments: [
    ['<scenario>', `${SCENARIOS.join(', ')} (default: all; with --compare: spread)`],
    ['--quick', 'a reduced run of every scenario, under a minute (indicative)'],
    ['--compare[=REF]', 'revision REF (default HEAD~1) against this working tree, in alternating rounds'],
    ['--rounds=N', 'interleaved rounds of minimal, floor, hot, spread (default 3, quick 1)'],
    ['--drain=S', 'pause after each load scenario, in seconds (default 11, quick 2)'],
    ['--concurrency=N', `closed-loop clients of the load scenarios (default ${DEFAULT_CONCURRENCY})`],
    ['--clients=N, --rate=R', 'Socket.IO clients and events per second of realtime (default 1000, 200)'],
    ['--no-knee, --low-load', 'spread: no knee ramp; one open-loop step at 20% of capacity when no ramp runs'],
    ['--env=KEY=value', 'environment of the worker, API and relay (repeatable)'],
    ['--dynamic-config=key=value', 'dynamic config of the dev server the bench starts (repeatable)'],
    ['--sqlite-pragma=key=value', 'SQLite pragma of that dev server (repeatable)'],
    ['--node-arg=FLAG', 'a node flag of the spawned processes, e.g. --cpu-prof (repeatable)'],
    ['--app-root=DIR', 'spawn the entry points of a copy of the repository'],
  ],
  environment: [
    ['DATABASE_URL', 'used if it answers; else 127.0.0.1:5432 (a fresh database), else an embedded PostgreSQL'],
    ['REDIS_URL', 'used if it answers; else 127.0.0.1:6379, else a redis-server of its own'],
    ['TEMPORAL_ADDRESS', "used if it answers; else a dev server from the project's Temporal CLI (TEMPORAL_CLI_PATH)"],
  ],
  example: 'npm run bench -- --quick',
  more: 'docs/benchmarks.md',
};

/** The parsed command line; `args` is it again as `--name=value` items, recorded in the results file. */
type CommandLine = ReturnType<typeof parseCommandLine>;

/**
 * Parses the command line (lib/cli.ts: `--help` and a refused command line end the process). `--compare` takes an
 * optional revision (`--compare`, `--compare=REF` or `--compare REF`; a scenario name after it is a scenario), so a
 * bare one becomes `--compare=DEFAULT_BASE` first.
 */
function parseCommandLine(argv: string[]) {
  const raw = argv.flatMap((arg, at) => {
    const next = argv[at + 1];
    const bare = next === undefined || next.startsWith('--') || (SCENARIOS as readonly string[]).includes(next);
    return arg === '--compare' && bare ? [`--compare=${DEFAULT_BASE}`] : [arg];
  });
  const { values, positionals, tokens } = parseWith(
    BENCH,
    { options: OPTIONS, allowPositionals: true, tokens: true },
    raw,
  );
  const args = tokens.flatMap((token) =>
    token.kind !== 'option' ? [] : [token.value === undefined ? `--${token.name}` : `--${token.name}=${token.value}`],
  );
  return { values, scenarios: positionals, args };
}

/** A number option: positive, or `>= 0` with `zero`; `fallback` when absent. */
function numberOption(raw: string | undefined, name: string, fallback: number, zero = false): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero)) {
    throw new Error(`--${name} must be a ${zero ? 'number >= 0' : 'positive number'}, got "${raw}"`);
  }
  return value;
}

/** The scenarios' options, each checked here once (a bad value stops the run before any stack starts). */
function settingsOf(cli: CommandLine): ScenarioSettings {
  const { values } = cli;
  return {
    concurrency: numberOption(values.concurrency, 'concurrency', DEFAULT_CONCURRENCY),
    clients: numberOption(values.clients, 'clients', 1000),
    rate: numberOption(values.rate, 'rate', 200),
    knee: values['no-knee'] !== true,
    lowLoad: values['low-load'] === true,
  };
}

/** Drain pause and interleaved rounds of a run (`--drain=S`, `--rounds=N`). */
function runShape(cli: CommandLine): { drainMs: number; rounds: number } {
  const { quick, drain, rounds } = cli.values;
  return {
    drainMs: numberOption(drain, 'drain', quick ? DRAIN_SECONDS.quick : DRAIN_SECONDS.full, true) * 1000,
    rounds: numberOption(rounds, 'rounds', quick ? 1 : 3),
  };
}

/** The stack options every stack of a run gets from the command line. */
function stackOptions(cli: CommandLine): Omit<StackOptions, 'appRoot' | 'label' | 'temporalOf'> {
  return {
    log,
    dynamicConfig: cli.values['dynamic-config'],
    sqlitePragmas: cli.values['sqlite-pragma'],
    appEnv: keyValues(cli.values.env, 'env'),
    nodeArgs: cli.values['node-arg'],
  };
}

/** Starts the processes `selected` needs on `stack` at once: they bundle and connect in parallel. */
async function startProcesses(stack: BenchStack, selected: readonly string[]): Promise<void> {
  await Promise.all([
    selected.includes('floor') ? stack.floorWorker() : undefined,
    selected.includes('minimal') ? stack.minimalWorker() : undefined,
    selected.some((name) => name === 'spread' || name === 'hot') ? stack.app() : undefined,
  ]);
}

/** Imports the scenario modules; one that does not load is reported and left out. */
async function loadModules(selected: readonly string[]): Promise<Map<string, ScenarioModule>> {
  const modules = new Map<string, ScenarioModule>();
  for (const name of selected) {
    try {
      modules.set(name, (await import(`./scenarios/${name}`)) as ScenarioModule);
    } catch (error) {
      log(`scenario ${name}: not available (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
    }
  }
  return modules;
}

/** Runs one round of one scenario; a scenario that throws becomes a failed result. */
async function runScenario(
  mod: ScenarioModule,
  name: string,
  options: BenchOptions,
  label = '',
): Promise<ScenarioResult> {
  const { round } = options;
  log(`== ${label}${name}${round.count > 1 ? ` (round ${round.index + 1} of ${round.count})` : ''}`);
  try {
    return await mod.run(options);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`   scenario ${name} failed: ${message}`);
    return { scenario: name, figures: {}, error: message };
  }
}

/** Evaluates the cross-scenario goals of `results` and prints each scenario's figures. */
function finishResults(results: ScenarioResult[], modules: Map<string, ScenarioModule>, label = ''): void {
  for (const result of results) {
    const check = result.error === undefined ? modules.get(result.scenario)?.goal?.(result, results) : undefined;
    if (check !== undefined) {
      result.goal = check.goal;
      if (check.goalMet !== undefined) result.goalMet = check.goalMet;
      Object.assign(result.figures, check.figures);
    }
    log(
      `== ${label}${result.scenario}${result.load !== undefined && result.load.rounds > 1 ? ` (${result.load.rounds} rounds merged)` : ''}`,
    );
    if (result.error !== undefined) log(`   FAILED: ${result.error}`);
    for (const [key, value] of Object.entries(result.figures)) log(`   ${key.padEnd(44)} ${String(value)}`);
    for (const violation of result.violations ?? []) log(`   INVARIANT VIOLATED: ${violation}`);
    if (result.goal !== undefined) {
      log(`   goal ${result.goal}: ${result.goalMet === undefined ? 'n/a' : result.goalMet ? 'met' : 'NOT met'}`);
    }
  }
}

/**
 * Stops the stacks (then runs `cleanup`) on Ctrl-C, SIGTERM and after the run's time limit; tells whether that
 * happened.
 */
function guardRun(
  stacks: BenchStack[],
  quick: boolean,
  cleanup?: () => void,
): { interrupted: () => boolean; clear: () => void } {
  let interrupted = false;
  const interrupt = (why: string): void => {
    if (interrupted) return;
    interrupted = true;
    log(`bench: ${why}; stopping everything we started`);
    for (const stack of stacks) stack.abort(why);
    void (async () => {
      for (const stack of stacks) await stack.stop();
    })().finally(() => {
      cleanup?.();
      process.exit(130);
    });
  };
  process.once('SIGINT', () => interrupt('interrupted'));
  process.once('SIGTERM', () => interrupt('terminated'));
  const limitMs = quick ? RUN_LIMIT_MS.quick : RUN_LIMIT_MS.full;
  const watchdog = setTimeout(() => interrupt(`time limit of ${limitMs / 60_000} min reached`), limitMs);
  watchdog.unref();
  return { interrupted: () => interrupted, clear: () => clearTimeout(watchdog) };
}

/** Writes `bench/results/<timestamp>.json` and `.svg`. */
function writeResults(
  startedAt: Date,
  machine: string,
  file: Record<string, unknown>,
  series: { scenario: string; report: LoadReport }[],
  quick: boolean,
): void {
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const base = path.join(dir, startedAt.toISOString().replace(/[:.]/g, '-'));
  const revision = gitRevision();
  writeFileSync(
    `${base}.json`,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        quick,
        revision,
        machine: { nproc: os.availableParallelism(), loadAverageAtStart: machine, loadAverageAtEnd: os.loadavg() },
        ...file,
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(
    `${base}.svg`,
    renderChart(series, `${startedAt.toISOString()}  ${quick ? 'quick  ' : ''}${machine}  rev ${revision}`),
  );
  log(`results written to ${path.relative(process.cwd(), base)}.json and .svg`);
}

/** Raw samples stay out of the results file: the percentiles and quantile curves describe the distributions. */
const withoutSamples = (r: ScenarioResult): ScenarioResult =>
  r.load === undefined ? r : { ...r, load: { ...r.load, samples: undefined } };

const machineLine = (when: string): string =>
  `nproc ${os.availableParallelism()}, load average${when} ${os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}`;

async function main(): Promise<number> {
  const cli = parseCommandLine(process.argv.slice(2));
  const { quick, compare } = cli.values;
  const argv = cli.args;
  const settings = settingsOf(cli);
  const names = cli.scenarios;
  const selected = names.length > 0 ? names : compare !== undefined ? ['spread'] : [...SCENARIOS];
  for (const name of selected) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      usageError(BENCH, `unknown scenario '${name}'`);
    }
    if (compare !== undefined && !INTERLEAVED.includes(name)) {
      throw new Error(`--compare runs the load scenarios (${INTERLEAVED.join(', ')}), not "${name}"`);
    }
  }
  if (compare !== undefined) return compareMain(cli, compare, selected, settings);
  const startedAt = new Date();
  const machine = machineLine('');
  log(`bench: ${selected.join(', ')}${quick ? ' (quick)' : ''}; ${machine}`);

  const appRoot = cli.values['app-root'];
  const { drainMs, rounds } = runShape(cli);
  const stack = await startStack({
    ...stackOptions(cli),
    ...(appRoot !== undefined ? { appRoot: path.resolve(appRoot) } : {}),
  });
  const guard = guardRun([stack], quick);

  const results: ScenarioResult[] = [];
  const modules = await loadModules(selected);
  try {
    // Scenarios that read their configuration from the environment (reserve, realtime, api) use the same stack.
    process.env.DATABASE_URL = stack.databaseUrl;
    process.env.REDIS_URL = stack.redisUrl;
    process.env.REDIS_KEY_PREFIX = stack.redisKeyPrefix;
    if (selected.some((name) => NEEDS_TEMPORAL.has(name))) {
      const temporal = await stack.temporal();
      process.env.TEMPORAL_ADDRESS = temporal.address;
      process.env.TEMPORAL_NAMESPACE = temporal.namespace;
      await startProcesses(stack, selected);
    }
    const roundResults: ScenarioResult[] = [];
    const runOnce = (name: string, round: BenchOptions['round'], lastInRun = false): Promise<ScenarioResult> => {
      const mod = modules.get(name);
      if (mod === undefined) throw new Error(`scenario ${name} is not loaded`);
      const options = { quick, settings, log, stack, results: [...results, ...roundResults], round, drainMs };
      return runScenario(mod, name, { ...options, lastInRun });
    };
    // Scenarios without ratio goals: once each, in the order given.
    for (const name of selected.filter((n) => modules.has(n) && !INTERLEAVED.includes(n))) {
      if (stack.signal.aborted) break;
      results.push(await runOnce(name, { index: 0, count: 1 }));
    }
    // minimal, floor, hot and spread: interleaved rounds, merged per scenario.
    const interleaved = INTERLEAVED.filter((n) => selected.includes(n) && modules.has(n));
    const failed = new Set<string>();
    for (let index = 0; index < rounds; index += 1) {
      for (const name of interleaved) {
        if (stack.signal.aborted || failed.has(name)) continue;
        const last = index === rounds - 1 && name === interleaved.at(-1);
        const result = await runOnce(name, { index, count: rounds }, last);
        if (result.error !== undefined) failed.add(name);
        roundResults.push(result);
      }
    }
    for (const name of interleaved) results.push(mergeRounds(roundResults.filter((r) => r.scenario === name)));
    finishResults(results, modules);
  } finally {
    guard.clear();
    if (!guard.interrupted()) await stack.stop();
  }

  printTable(results);
  const across = ratios(results);
  for (const [key, value] of Object.entries(across)) log(`${key.padEnd(32)} ${String(value)}`);
  log(machineLine(' at end'));
  writeResults(
    startedAt,
    machine,
    { args: argv, stack: stack.describe(), ratios: across, results: results.map(withoutSamples) },
    results.flatMap((r) => (r.load === undefined ? [] : [{ scenario: r.scenario, report: r.load }])),
    quick,
  );

  const violated = results.some((r) => (r.violations ?? []).length > 0);
  const failed = results.some((r) => r.error !== undefined) || guard.interrupted();
  if (violated) log('bench: FAILED — docs/design.md invariants violated (see above)');
  return violated || failed ? 1 : 0;
}

/**
 * `--compare`: revision `ref` (A, a temporary checkout) and this working tree (B), each a stack of its own on one
 * shared Temporal dev server, the chosen load scenarios in alternating rounds (A then B, then B then A, ...), spread
 * with a low-load step every round and no knee ramp. Prints per-round figures, medians and B/A ratios, and each side's
 * merged figures.
 */
async function compareMain(
  cli: CommandLine,
  ref: string,
  selected: readonly string[],
  settings: ScenarioSettings,
): Promise<number> {
  const {
    args: argv,
    values: { quick },
  } = cli;
  const { drainMs, rounds } = runShape(cli);
  const startedAt = new Date();
  const machine = machineLine('');
  const base = checkoutRevision(REPO_ROOT, ref, log);
  const labels = { A: base.label, B: `working tree (${gitRevision()}${gitDirty() ? ', uncommitted changes' : ''})` };
  log(
    `bench --compare: A = ${labels.A}, B = ${labels.B}; ${selected.join(', ')}${quick ? ' (quick)' : ''}; ${machine}`,
  );
  const measured = { ...settings, knee: false, lowLoad: true };
  const stacks: BenchStack[] = [];
  let guard: ReturnType<typeof guardRun> | undefined;
  const sideRounds: (SideRound & { result: ScenarioResult })[] = [];
  const merged: Record<'A' | 'B', ScenarioResult[]> = { A: [], B: [] };
  const modules = await loadModules(selected);
  try {
    const a = await startStack({ ...stackOptions(cli), appRoot: base.root, label: 'A' });
    stacks.push(a);
    const b = await startStack({ ...stackOptions(cli), label: 'B', temporalOf: a });
    stacks.unshift(b); // stopped first: it uses A's Temporal
    guard = guardRun(stacks, quick, base.remove);
    const sides = { A: a, B: b } as const;
    await a.temporal();
    await Promise.all([startProcesses(a, selected), startProcesses(b, selected)]);
    const interleaved = INTERLEAVED.filter((n) => selected.includes(n) && modules.has(n));
    // Both sides warmed up alike before anything is measured: a fresh worker's first workflow tasks (bundle, JIT,
    // connections) take seconds, which a first round's short warm-up does not always absorb.
    for (const side of ['A', 'B'] as const) {
      for (const name of interleaved) {
        const mod = modules.get(name);
        if (mod === undefined || sides[side].signal.aborted) continue;
        const round = { index: 0, count: 1 };
        const warm = {
          quick: true,
          settings: { ...settings, knee: false },
          log,
          stack: sides[side],
          results: [],
          round,
        };
        await runScenario(mod, name, { ...warm, drainMs: 0, lastInRun: false }, `${side} warm-up: `);
      }
    }
    // The warm-ups' deferred timer work (10 s after their tasks) lands here, not in the first measured window.
    await pause(drainMs, b.signal);
    for (let index = 0; index < rounds; index += 1) {
      const order = index % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
      for (const side of order) {
        for (const name of interleaved) {
          const stack = sides[side];
          const mod = modules.get(name);
          if (mod === undefined || stack.signal.aborted) continue;
          const last = index === rounds - 1 && side === order[1] && name === interleaved.at(-1);
          const result = await runScenario(
            mod,
            name,
            {
              quick,
              settings: measured,
              log,
              stack,
              results: sideRounds.filter((r) => r.side === side).map((r) => r.result),
              round: { index, count: rounds },
              drainMs,
              lastInRun: last,
            },
            `${side} `,
          );
          sideRounds.push({
            side,
            scenario: name,
            round: index,
            result,
            ...(result.load !== undefined ? { load: result.load } : {}),
            ...(result.error !== undefined ? { error: result.error } : {}),
          });
        }
      }
    }
    for (const side of ['A', 'B'] as const) {
      for (const name of interleaved) {
        const rounds = sideRounds.filter((r) => r.side === side && r.scenario === name).map((r) => r.result);
        if (rounds.length > 0) merged[side].push(mergeRounds(rounds));
      }
      finishResults(merged[side], modules, `${side} `);
    }
  } finally {
    guard?.clear();
    if (guard === undefined || !guard.interrupted()) for (const stack of stacks) await stack.stop();
    base.remove();
  }

  for (const side of ['A', 'B'] as const) {
    log(`\n${side} = ${labels[side]}`);
    printTable(merged[side]);
  }
  const comparison = reportComparison(sideRounds, labels, log);
  log(machineLine(' at end'));
  writeResults(
    startedAt,
    machine,
    {
      args: argv,
      compare: { A: labels.A, B: labels.B, commitA: base.commit },
      stacks: stacks.map((stack) => stack.describe()),
      comparison,
      rounds: sideRounds.map(({ side, scenario, round, result }) => ({
        side,
        round,
        ...withoutSamples(result),
        scenario,
      })),
      results: { A: merged.A.map(withoutSamples), B: merged.B.map(withoutSamples) },
    },
    (['A', 'B'] as const).flatMap((side) =>
      merged[side].flatMap((r) =>
        r.load === undefined ? [] : [{ scenario: `${r.scenario} ${side}`, report: r.load }],
      ),
    ),
    quick,
  );
  const all = [...merged.A, ...merged.B];
  const violated = all.some((r) => (r.violations ?? []).length > 0);
  if (violated) log('bench: FAILED — docs/design.md invariants violated (see above)');
  return violated || all.some((r) => r.error !== undefined) || guard?.interrupted() === true ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
