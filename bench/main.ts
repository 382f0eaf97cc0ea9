/**
 * `npm run bench` (docs/benchmarks.md): the scenarios of `bench/scenarios/` run in one process on one shared stack
 * (bench/support/stack.ts), so ratios between them hold on a shared, noisy machine; with `--compare`, one stack per
 * revision. Everything it started is stopped at the end, on Ctrl-C and on errors.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { parseCommandLine as parseWith, runMain, usageError, type Command } from '../lib/cli';
import { messageOf } from '../lib/error-text';
import { pause } from '../lib/sleep';
import { renderChart } from './chart';
import { checkoutRevision, DEFAULT_BASE, gitOutput, reportComparison, type SideRound } from './support/compare';
import { formatCounts } from './support/history';
import { loadFigures, mergeLoadReports, stackCpuMsPerOp, type LoadReport } from './support/report';
import { round } from './support/stats';
import { DEFAULT_CONCURRENCY, RATIO_GOALS, ratioOf } from './support/scenario';
import { REPO_ROOT, startStack, type BenchStack, type StackOptions } from './support/stack';
import type { BenchOptions, ScenarioModule, ScenarioResult } from './contract';

const SCENARIOS = ['reserve', 'api', 'realtime', 'minimal', 'floor', 'spread', 'hot', 'export'] as const;
/**
 * Scenarios whose ratios are goals, in the order they interleave so a burst of load from elsewhere hits all alike;
 * spread's knee ramp (last round) ends the run and overloads nothing still to be measured.
 */
const INTERLEAVED = ['minimal', 'floor', 'hot', 'spread'];
/** Scenarios that need Temporal (started up front so the scenarios' own timings exclude it). */
const NEEDS_TEMPORAL = new Set(['api', 'minimal', 'floor', 'spread', 'hot', 'export']);
/**
 * Pause after each load scenario, full and quick, in seconds. Temporal does part of a workflow's work ~10 s after its
 * tasks ran (the workflow-task and activity start-to-close timeout timers fire then, one check each); without the
 * pause it lands in the next scenario's window and is billed to it (spread paid for the floor's timers: +10 to +25%
 * Temporal CPU per order). Quick runs pause 2 s (indicative, not exact) and not after the last scenario.
 */
const DRAIN_SECONDS = { full: 11, quick: 2 };
/** Longest a run may take before it is stopped. */
const RUN_LIMIT_MS = { quick: 5 * 60_000, full: 30 * 60_000 };

const log = (line: string): void => void process.stderr.write(`${line}\n`);

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

/** A number option: positive, or `>= 0` with `zero`; `fallback` when absent. */
function numberOption(raw: string | undefined, name: string, fallback: number, zero = false): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero)) {
    throw new Error(`--${name} must be a ${zero ? 'number >= 0' : 'positive number'}, got "${raw}"`);
  }
  return value;
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

/**
 * The run the command line asks for, every value checked here once (lib/cli.ts: `--help` and a refused command line
 * end the process): a bad value stops the run before anything starts. `args` is the command line as `--name=value`
 * items, for the results file. `--compare` takes an optional revision (`--compare`, `--compare=REF` or `--compare
 * REF`; a scenario name after it is a scenario), so a bare one becomes `--compare=DEFAULT_BASE` first.
 */
function runPlan(argv: string[]) {
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
  const { quick, compare } = values;
  const settings = {
    concurrency: numberOption(values.concurrency, 'concurrency', DEFAULT_CONCURRENCY),
    clients: numberOption(values.clients, 'clients', 1000),
    rate: numberOption(values.rate, 'rate', 200),
    knee: values['no-knee'] !== true,
    lowLoad: values['low-load'] === true,
  };
  const selected = positionals.length > 0 ? positionals : compare !== undefined ? ['spread'] : [...SCENARIOS];
  for (const name of selected) {
    if (!(SCENARIOS as readonly string[]).includes(name)) usageError(BENCH, `unknown scenario '${name}'`);
    if (compare !== undefined && !INTERLEAVED.includes(name)) {
      throw new Error(`--compare runs the load scenarios (${INTERLEAVED.join(', ')}), not "${name}"`);
    }
  }
  const appRoot = values['app-root'];
  return {
    quick,
    compare,
    selected,
    settings,
    args: tokens.flatMap((t) =>
      t.kind !== 'option' ? [] : [`--${t.name}${t.value === undefined ? '' : `=${t.value}`}`],
    ),
    drainMs: numberOption(values.drain, 'drain', quick ? DRAIN_SECONDS.quick : DRAIN_SECONDS.full, true) * 1000,
    rounds: numberOption(values.rounds, 'rounds', quick ? 1 : 3),
    /** What every stack of the run gets from the command line (`--compare` places its own). */
    stackOptions: {
      log,
      dynamicConfig: values['dynamic-config'],
      sqlitePragmas: values['sqlite-pragma'],
      appEnv: keyValues(values.env, 'env'),
      nodeArgs: values['node-arg'],
    },
    appRoot: appRoot === undefined ? undefined : path.resolve(appRoot),
  };
}

const gitRevision = (): string => gitOutput(__dirname, ['rev-parse', '--short', 'HEAD']) ?? 'unknown';

/** True when the working tree has changes to tracked files (what `--compare` measures as B includes them). */
const gitDirty = (): boolean => (gitOutput(REPO_ROOT, ['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';

const verdict = (goalMet: boolean | undefined): string => (goalMet === undefined ? 'n/a' : goalMet ? 'met' : 'NOT met');

/** Merges the rounds of one scenario into one result (load merged, violations and deadlocks summed). */
function mergeRounds(rounds: ScenarioResult[]): ScenarioResult {
  const [first] = rounds;
  if (first === undefined) throw new Error('no round to merge');
  const failed = rounds.find((r) => r.error !== undefined);
  if (failed !== undefined) return failed;
  const loads = rounds.flatMap((r) => (r.load === undefined ? [] : [r.load]));
  const load = loads.length > 0 ? mergeLoadReports(loads) : undefined;
  const statuses: Record<string, number> = {};
  for (const [status, count] of rounds.flatMap((r) => Object.entries(r.orderStatuses ?? {}))) {
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
    const rss = Object.entries(load?.peakRssMb ?? {})
      .map(([name, mb]) => `${name.replace(' worker', '')} ${Math.round(mb)}`)
      .join(', ');
    const invariants =
      result.violations === undefined ? '-' : result.violations.length === 0 ? 'ok' : `${result.violations.length} BAD`;
    const goal =
      result.error !== undefined
        ? `FAILED: ${result.error.split('\n')[0]}`
        : result.goal === undefined
          ? ''
          : `${verdict(result.goalMet)}: ${result.goal}`;
    log(
      `${result.scenario.padEnd(9)}${cell(load?.throughput.toFixed(1), 7)}${cell(formatCounts(load?.history), 18)}` +
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
  const out: Record<string, number | string> = {};
  for (const goal of Object.values(RATIO_GOALS)) {
    const ratio = ratioOf(goal, results);
    if (ratio !== undefined) out[`${goal.of}/${goal.to} (goal >= ${goal.bound})`] = round(ratio);
  }
  const knee = results.find((r) => r.scenario === 'spread')?.load?.knee;
  if (knee !== undefined) out['spread knee, offered orders/s'] = knee.kneeRate ?? 'not reached';
  return out;
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
      log(`scenario ${name}: not available (${messageOf(error).split('\n')[0]})`);
    }
  }
  return modules;
}

/** Runs one round of one loaded scenario; a scenario that throws becomes a failed result. */
async function runScenario(
  modules: Map<string, ScenarioModule>,
  name: string,
  options: BenchOptions,
  label: string,
): Promise<ScenarioResult> {
  const { index, count } = options.round;
  log(`== ${label}${name}${count > 1 ? ` (round ${index + 1} of ${count})` : ''}`);
  try {
    const mod = modules.get(name);
    if (mod === undefined) throw new Error(`scenario ${name} is not loaded`);
    return await mod.run(options);
  } catch (error) {
    log(`   scenario ${name} failed: ${messageOf(error)}`);
    return { scenario: name, figures: {}, error: messageOf(error) };
  }
}

/** Evaluates the cross-scenario goals of `results` and prints each scenario's figures. */
function finishResults(results: ScenarioResult[], modules: Map<string, ScenarioModule>, label: string): void {
  for (const result of results) {
    const check = result.error === undefined ? modules.get(result.scenario)?.goal?.(result, results) : undefined;
    if (check !== undefined) {
      result.goal = check.goal;
      if (check.goalMet !== undefined) result.goalMet = check.goalMet;
      Object.assign(result.figures, check.figures);
    }
    const merged = result.load !== undefined && result.load.rounds > 1 ? ` (${result.load.rounds} rounds merged)` : '';
    log(`== ${label}${result.scenario}${merged}`);
    if (result.error !== undefined) log(`   FAILED: ${result.error}`);
    for (const [key, value] of Object.entries(result.figures)) log(`   ${key.padEnd(44)} ${String(value)}`);
    for (const violation of result.violations ?? []) log(`   INVARIANT VIOLATED: ${violation}`);
    if (result.goal !== undefined) log(`   goal ${result.goal}: ${verdict(result.goalMet)}`);
  }
}

/** Stops the stacks, in order, then runs `cleanup` on Ctrl-C, SIGTERM and at the run's time limit. */
function guardRun(stacks: BenchStack[], quick: boolean, cleanup?: () => void) {
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
  const run = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    quick,
    revision,
    machine: { nproc: os.availableParallelism(), loadAverageAtStart: machine, loadAverageAtEnd: os.loadavg() },
    ...file,
  };
  writeFileSync(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
  const subtitle = `${startedAt.toISOString()}  ${quick ? 'quick  ' : ''}${machine}  rev ${revision}`;
  writeFileSync(`${base}.svg`, renderChart(series, subtitle));
  log(`results written to ${path.relative(process.cwd(), base)}.json and .svg`);
}

/** Raw samples stay out of the results file: the percentiles and quantile curves describe the distributions. */
const withoutSamples = (r: ScenarioResult): ScenarioResult =>
  r.load === undefined ? r : { ...r, load: { ...r.load, samples: undefined } };

const machineLine = (when: string): string => {
  const loadAverage = os.loadavg().map((value) => value.toFixed(2));
  return `nproc ${os.availableParallelism()}, load average${when} ${loadAverage.join(' ')}`;
};

/** One stack of the run: the only one (name ''), or side A or B of `--compare`; `results` once merged. */
interface Side {
  name: '' | 'A' | 'B';
  stack: BenchStack;
  results: ScenarioResult[];
}

/**
 * Runs the plan. Alone: the scenarios without ratio goals once each, then minimal, floor, hot and spread in
 * interleaved rounds, merged per scenario. `--compare`: revision REF (A, a temporary checkout) and this working tree
 * (B), each a stack of its own on one shared Temporal dev server, both warmed up, then the load scenarios in
 * alternating rounds (A then B, then B then A, ...), spread with a low-load step every round and no knee ramp.
 */
async function main(): Promise<number> {
  const plan = runPlan(process.argv.slice(2));
  const { quick, selected, drainMs } = plan;
  const startedAt = new Date();
  const machine = machineLine('');
  const base = plan.compare === undefined ? undefined : checkoutRevision(REPO_ROOT, plan.compare, log);
  const labels = {
    A: base?.label ?? '',
    B: base === undefined ? '' : `working tree (${gitRevision()}${gitDirty() ? ', uncommitted changes' : ''})`,
  };
  const header = base === undefined ? 'bench: ' : `bench --compare: A = ${labels.A}, B = ${labels.B}; `;
  log(`${header}${selected.join(', ')}${quick ? ' (quick)' : ''}; ${machine}`);

  const modules = await loadModules(selected);
  const interleaved = INTERLEAVED.filter((n) => selected.includes(n) && modules.has(n));
  const sides: Side[] = [];
  const rounds: SideRound[] = [];
  let guard: ReturnType<typeof guardRun> | undefined;
  try {
    const add = async (name: Side['name'], options: Partial<StackOptions>): Promise<BenchStack> => {
      const stack = await startStack({ ...plan.stackOptions, ...options });
      sides.push({ name, stack, results: [] });
      return stack;
    };
    if (base === undefined) await add('', { appRoot: plan.appRoot });
    else await add('B', { label: 'B', temporalOf: await add('A', { appRoot: base.root, label: 'A' }) });
    const [first] = sides;
    if (first === undefined) throw new Error('no stack');
    guard = guardRun(sides.map((side) => side.stack).reverse(), quick, base?.remove); // B first: it uses A's Temporal
    if (base === undefined) {
      // Scenarios that read their configuration from the environment (reserve, realtime, api) use the same stack.
      process.env.DATABASE_URL = first.stack.databaseUrl;
      process.env.REDIS_URL = first.stack.redisUrl;
      process.env.REDIS_KEY_PREFIX = first.stack.redisKeyPrefix;
    }
    if (selected.some((name) => NEEDS_TEMPORAL.has(name))) {
      const temporal = await first.stack.temporal();
      if (base === undefined) {
        process.env.TEMPORAL_ADDRESS = temporal.address;
        process.env.TEMPORAL_NAMESPACE = temporal.namespace;
      }
      await Promise.all(sides.map((side) => startProcesses(side.stack, selected)));
    }
    const settings = base === undefined ? plan.settings : { ...plan.settings, knee: false, lowLoad: true };
    const run = (side: Side, name: string, round: BenchOptions['round'], lastInRun: boolean) => {
      const results = [...side.results, ...rounds.filter((r) => r.side === side.name).map((r) => r.result)];
      const options = { quick, settings, log, stack: side.stack, results, round, drainMs, lastInRun };
      return runScenario(modules, name, options, side.name === '' ? '' : `${side.name} `);
    };
    // Scenarios without ratio goals (never with --compare): once each, in the order given.
    for (const name of selected.filter((n) => modules.has(n) && !INTERLEAVED.includes(n))) {
      if (first.stack.signal.aborted) break;
      first.results.push(await run(first, name, { index: 0, count: 1 }, false));
    }
    if (base !== undefined) {
      // Both sides warmed up alike before anything is measured: a fresh worker's first workflow tasks (bundle, JIT,
      // connections) take seconds, which a first round's short warm-up does not always absorb.
      for (const { name: side, stack } of sides) {
        for (const name of interleaved) {
          if (stack.signal.aborted) continue;
          const round = { index: 0, count: 1 };
          const warm = { quick: true, settings: { ...plan.settings, knee: false }, log, stack, results: [], round };
          await runScenario(modules, name, { ...warm, drainMs: 0, lastInRun: false }, `${side} warm-up: `);
        }
      }
      // The warm-ups' deferred timer work (10 s after their tasks) lands here, not in the first measured window.
      await pause(drainMs, sides[1]?.stack.signal ?? first.stack.signal);
    }
    for (let index = 0; index < plan.rounds; index += 1) {
      const order = index % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        for (const name of interleaved) {
          // Alone, a scenario that failed is not run again; --compare keeps its rounds for the per-round table.
          const failed = rounds.some((r) => r.scenario === name && r.result.error !== undefined);
          if (side.stack.signal.aborted || (base === undefined && failed)) continue;
          const last = index === plan.rounds - 1 && side === order.at(-1) && name === interleaved.at(-1);
          const result = await run(side, name, { index, count: plan.rounds }, last);
          rounds.push({ side: side.name, scenario: name, round: index, result });
        }
      }
    }
    for (const side of sides) {
      for (const name of interleaved) {
        const own = rounds.filter((r) => r.side === side.name && r.scenario === name).map((r) => r.result);
        // Alone, a scenario left without a round (its stack aborted) fails the run here.
        if (own.length > 0 || base === undefined) side.results.push(mergeRounds(own));
      }
      finishResults(side.results, modules, side.name === '' ? '' : `${side.name} `);
    }
  } finally {
    guard?.clear();
    if (guard === undefined || !guard.interrupted()) for (const side of [...sides].reverse()) await side.stack.stop();
    base?.remove();
  }

  for (const side of sides) {
    if (side.name !== '') log(`\n${side.name} = ${labels[side.name]}`);
    printTable(side.results);
  }
  const all = sides.flatMap((side) => side.results);
  let file: Record<string, unknown>;
  if (base === undefined) {
    const across = ratios(all);
    for (const [key, value] of Object.entries(across)) log(`${key.padEnd(32)} ${String(value)}`);
    file = { args: plan.args, stack: sides[0]?.stack.describe(), ratios: across, results: all.map(withoutSamples) };
  } else {
    const [a, b] = sides;
    file = {
      args: plan.args,
      compare: { A: labels.A, B: labels.B, commitA: base.commit },
      stacks: sides.map((side) => side.stack.describe()),
      comparison: reportComparison(rounds, labels, log),
      rounds: rounds.map(({ side, scenario, round, result }) => ({ side, round, ...withoutSamples(result), scenario })),
      results: { A: a?.results.map(withoutSamples), B: b?.results.map(withoutSamples) },
    };
  }
  log(machineLine(' at end'));
  const series = sides.flatMap((side) =>
    side.results.flatMap((r) => {
      const scenario = side.name === '' ? r.scenario : `${r.scenario} ${side.name}`;
      return r.load === undefined ? [] : [{ scenario, report: r.load }];
    }),
  );
  writeResults(startedAt, machine, file, series, quick);

  const violated = all.some((r) => (r.violations ?? []).length > 0);
  if (violated) log('bench: FAILED — docs/design.md invariants violated (see above)');
  return violated || all.some((r) => r.error !== undefined) || guard?.interrupted() === true ? 1 : 0;
}

runMain('bench', main);
