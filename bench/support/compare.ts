/**
 * `--compare[=REF]`: the stack of another revision (A, default `HEAD~1`) against this working tree (B) in one run.
 * A is checked out into a temporary shared clone (`git clone --shared`: no copy of the objects, nothing written to
 * this repository), with this repository's `node_modules` linked in when its `package-lock.json` is the same (else
 * `npm ci` there). Both stacks share one Temporal dev server and run the chosen scenarios in alternating rounds
 * (A B, B A, A B, ...), so machine load and server warm-up hit both alike; this file checks A out and reports the
 * per-round and median figures and the B/A ratios issue 16's goals are written in.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatCounts } from './history';
import { rate, stackCpuMsPerOp, type LoadReport } from './report';
import { median, round } from './stats';

/** Revision A when `--compare` names none. */
export const DEFAULT_BASE = 'HEAD~1';

/** A checked-out revision, removed by `remove()`. */
export interface Checkout {
  root: string;
  /** Full commit id. */
  commit: string;
  /** `git describe`-like label: the ref as given and the short commit id. */
  label: string;
  remove(): void;
}

const git = (cwd: string, args: string[]): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/**
 * Checks `ref` (any git revision of `repoRoot`) out into a temporary directory with dependencies in place. Throws
 * with git's message when the ref does not name a commit.
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

/** One scenario's round on one side, as compared. */
export interface SideRound {
  side: 'A' | 'B';
  scenario: string;
  round: number;
  load?: LoadReport;
  error?: string;
}

/** The figures compared per round and as medians. */
interface Figures {
  rate?: number;
  cpu?: number;
  lowAcceptP50?: number;
}
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
  log('');
  log(`A = ${labels.A}, B = ${labels.B}`);
  const head =
    `${'scenario'.padEnd(9)} ${'round'.padEnd(6)}${'ops/s A'.padStart(9)}${'B'.padStart(7)}${'B/A'.padStart(6)}` +
    `${'CPU ms/op A'.padStart(13)}${'B'.padStart(7)}${'B/A'.padStart(6)}` +
    `${'low-load accept p50 A'.padStart(23)}${'B'.padStart(7)}${'B/A'.padStart(6)}` +
    `   ${'wft/act/la/events A'.padEnd(20)} B`;
  log(head);
  log('-'.repeat(head.length + 12));
  const scenarios = [...new Set(rounds.map((r) => r.scenario))];
  for (const scenario of scenarios) {
    const of = (side: 'A' | 'B'): SideRound[] => rounds.filter((r) => r.scenario === scenario && r.side === side);
    const count = Math.max(of('A').length, of('B').length);
    const line = (label: string, a: Figures, b: Figures, shapeA: string, shapeB: string): void =>
      log(
        `${scenario.padEnd(9)} ${label.padEnd(6)}${show(a.rate).padStart(9)}${show(b.rate).padStart(7)}` +
          `${show(ratio(b.rate, a.rate), 2).padStart(6)}${show(a.cpu).padStart(13)}${show(b.cpu).padStart(7)}` +
          `${show(ratio(b.cpu, a.cpu), 2).padStart(6)}${show(a.lowAcceptP50).padStart(23)}` +
          `${show(b.lowAcceptP50).padStart(7)}${show(ratio(b.lowAcceptP50, a.lowAcceptP50), 2).padStart(6)}` +
          `   ${shapeA.padEnd(20)} ${shapeB}`,
      );
    for (let i = 0; i < count; i += 1) {
      const [a, b] = [of('A')[i], of('B')[i]];
      line(
        String(i + 1),
        figuresOf(a?.load),
        figuresOf(b?.load),
        a?.error !== undefined ? 'FAILED' : formatCounts(a?.load?.history),
        b?.error !== undefined ? 'FAILED' : formatCounts(b?.load?.history),
      );
    }
    const medianOf = (side: 'A' | 'B'): Figures => {
      const all = of(side).map((r) => figuresOf(r.load));
      const figures: Figures = {};
      for (const key of FIGURE_KEYS) {
        const values = all.flatMap((f) => (f[key] === undefined ? [] : [f[key]]));
        if (values.length > 0) figures[key] = median(values);
      }
      return figures;
    };
    const [a, b] = [medianOf('A'), medianOf('B')];
    line('median', a, b, '', '');
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
      const verdict =
        typeof value !== 'number'
          ? 'n/a'
          : (goal.atLeast ? value >= goal.bound : value <= goal.bound)
            ? 'met'
            : 'NOT met';
      log(
        `${goal.what.padEnd(34)} ${String(value).padStart(6)}   goal ${goal.atLeast ? '>=' : '<='} ${goal.bound}: ${verdict}`,
      );
    }
  }
  log(
    '(medians over rounds; CPU ms/op = whole stack, the shared Temporal counted in the window of the side it served;',
  );
  log(" low load = one open-loop step at 20% of the side's own closed-loop rate of the round; wft/act/la/events = per");
  log(' workflow: workflow tasks, activity tasks, local activities, history events, mean of a sample)');
  return out;
}
