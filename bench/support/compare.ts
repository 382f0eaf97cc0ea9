/**
 * `--compare[=REF]`: checks revision A (default `HEAD~1`) out for its stack, and reports A against this working tree
 * (B) per round and as medians over rounds, with the B/A ratios issue 16's goals are written in.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ScenarioResult } from '../contract';
import { formatCounts } from './history';
import { rate, stackCpuMsPerOp, type LoadReport } from './report';
import { median, round } from './stats';

/** Revision A when `--compare` names none. */
export const DEFAULT_BASE = 'HEAD~1';

/** A checked-out revision (`commit`: full id; `label`: the ref as given and the short id), removed by `remove()`. */
export interface Checkout {
  root: string;
  commit: string;
  label: string;
  remove(): void;
}

const git = (cwd: string, args: string[]): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** What git prints for `args` in `cwd`, trimmed; undefined when it fails (not a repository, no git). */
export function gitOutput(cwd: string, args: string[]): string | undefined {
  try {
    return git(cwd, args);
  } catch {
    return undefined;
  }
}

/**
 * Checks `ref` out into a temporary shared clone (`git clone --shared`: no objects copied, nothing written to this
 * repository) with this one's `node_modules` linked in when the `package-lock.json` is the same, else `npm ci` there.
 */
export function checkoutRevision(repoRoot: string, ref: string, log: (line: string) => void): Checkout {
  const commit = git(repoRoot, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  const root = mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-base-'));
  const remove = (): void => rmSync(root, { recursive: true, force: true });
  try {
    log(`bench: checking out ${ref} (${commit.slice(0, 10)}) into ${root}`);
    git(repoRoot, ['clone', '--quiet', '--shared', '--no-checkout', repoRoot, root]);
    git(root, ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit]);
    const lock = (dir: string): string =>
      existsSync(path.join(dir, 'package-lock.json')) ? readFileSync(path.join(dir, 'package-lock.json'), 'utf8') : '';
    if (lock(root) === lock(repoRoot) && existsSync(path.join(repoRoot, 'node_modules'))) {
      symlinkSync(realpathSync(path.join(repoRoot, 'node_modules')), path.join(root, 'node_modules'), 'dir');
    } else {
      log(`bench: ${ref} has another package-lock.json: npm ci there (minutes)`);
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    }
    return { root, commit, label: `${ref} (${commit.slice(0, 10)})`, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

/** One round of one scenario on one side of the run ('' when there is only one), in the order they ran. */
export interface SideRound {
  side: '' | 'A' | 'B';
  scenario: string;
  round: number;
  result: ScenarioResult;
}

/** The figures compared per round and as medians, with their column in the table: title of A's, width. */
const COLUMNS = {
  rate: ['ops/s A', 9],
  cpu: ['CPU ms/op A', 13],
  lowAcceptP50: ['low-load accept p50 A', 23],
} as const;
type Figures = Partial<Record<keyof typeof COLUMNS, number>>;
const FIGURE_KEYS = ['rate', 'cpu', 'lowAcceptP50'] as const;

const figuresOf = (load: LoadReport | undefined): Figures =>
  load === undefined
    ? {}
    : {
        rate: rate(load),
        ...(stackCpuMsPerOp(load) !== undefined ? { cpu: stackCpuMsPerOp(load) } : {}),
        ...(load.lowLoad !== undefined ? { lowAcceptP50: load.lowLoad.acceptedP50 } : {}),
      };

const ratio = (b: number | undefined, a: number | undefined): number | undefined =>
  a === undefined || b === undefined || a === 0 ? undefined : round(b / a);

const show = (value: number | undefined, decimals = 1): string =>
  value === undefined ? '-' : String(round(value, decimals));

/** Issue 16's goals on B/A, by figure: at least (`>=`) or at most (`<=`) the bound. */
export const COMPARE_GOALS = {
  rate: { bound: 1.6, atLeast: true, what: 'spread orders/s B/A' },
  cpu: { bound: 0.6, atLeast: false, what: 'CPU ms per order B/A' },
  lowAcceptP50: { bound: 0.5, atLeast: false, what: 'POST -> 201 p50 at low load B/A' },
} as const;

/**
 * Prints, per scenario, one line per round (A and B figures and B/A) and one for the medians over rounds, then
 * spread's B/A medians against issue 16's goals. Returns the median ratios by scenario (for the results file).
 */
export function reportComparison(
  rounds: readonly SideRound[],
  labels: { A: string; B: string },
  log: (line: string) => void,
): Record<string, Record<string, number | string>> {
  const out: Record<string, Record<string, number | string>> = {};
  const row = (scenario: string, label: string, cells: (key: keyof typeof COLUMNS) => string[], shapes: string[]) =>
    `${scenario.padEnd(9)} ${label.padEnd(6)}` +
    FIGURE_KEYS.map((key) => {
      const [a = '', b = '', ba = ''] = cells(key);
      return `${a.padStart(COLUMNS[key][1])}${b.padStart(7)}${ba.padStart(6)}`;
    }).join('') +
    `   ${(shapes[0] ?? '').padEnd(20)} ${shapes[1] ?? ''}`;
  log('');
  log(`A = ${labels.A}, B = ${labels.B}`);
  const head = row('scenario', 'round', (key) => [COLUMNS[key][0], 'B', 'B/A'], ['wft/act/la/events A', 'B']);
  log(head);
  log('-'.repeat(head.length + 12));
  for (const scenario of new Set(rounds.map((r) => r.scenario))) {
    const of = (side: 'A' | 'B'): SideRound[] => rounds.filter((r) => r.scenario === scenario && r.side === side);
    const line = (label: string, a: Figures, b: Figures, shapes: string[]): void =>
      log(row(scenario, label, (key) => [show(a[key]), show(b[key]), show(ratio(b[key], a[key]), 2)], shapes));
    const shape = (r: SideRound | undefined): string =>
      r?.result.error !== undefined ? 'FAILED' : formatCounts(r?.result.load?.history);
    for (let i = 0; i < Math.max(of('A').length, of('B').length); i += 1) {
      const [a, b] = [of('A')[i], of('B')[i]];
      line(String(i + 1), figuresOf(a?.result.load), figuresOf(b?.result.load), [shape(a), shape(b)]);
    }
    const medianOf = (side: 'A' | 'B'): Figures => {
      const all = of(side).map((r) => figuresOf(r.result.load));
      const figures: Figures = {};
      for (const key of FIGURE_KEYS) {
        const values = all.flatMap((f) => (f[key] === undefined ? [] : [f[key]]));
        if (values.length > 0) figures[key] = median(values);
      }
      return figures;
    };
    const [a, b] = [medianOf('A'), medianOf('B')];
    line('median', a, b, ['', '']);
    const ratios: Record<string, number | string> = {};
    for (const key of FIGURE_KEYS) {
      ratios[`${key} A`] = a[key] === undefined ? '-' : round(a[key], 2);
      ratios[`${key} B`] = b[key] === undefined ? '-' : round(b[key], 2);
      ratios[`${key} B/A`] = ratio(b[key], a[key]) ?? '-';
    }
    out[scenario] = ratios;
  }
  const spread = out.spread;
  if (spread !== undefined) {
    log('');
    for (const [key, goal] of Object.entries(COMPARE_GOALS)) {
      const value = spread[`${key} B/A`];
      const met = typeof value === 'number' && (goal.atLeast ? value >= goal.bound : value <= goal.bound);
      const verdict = typeof value !== 'number' ? 'n/a' : met ? 'met' : 'NOT met';
      const bound = `goal ${goal.atLeast ? '>=' : '<='} ${goal.bound}`;
      log(`${goal.what.padEnd(34)} ${String(value).padStart(6)}   ${bound}: ${verdict}`);
    }
  }
  log(
    '(medians over rounds; CPU ms/op = whole stack, the shared Temporal counted in the window of the side it served;',
  );
  log(" low load = one open-loop step at 20% of the side's own closed-loop rate of the round; wft/act/la/events = per");
  log(' workflow: workflow tasks, activity tasks, local activities, history events, mean of a sample)');
  return out;
}
