/** Command line of `npm run chaos`, and the seeded random source: the same seed replays the order mix and faults. */
import path from 'node:path';
import { parseCommandLine, usageError, type Command } from '../lib/cli';

/** What one chaos run does (the defaults are in CHAOS's help). */
export interface ChaosOptions {
  orders: number;
  /** Upper bound of the load phase: the load stops at `orders` or here, whichever comes first. */
  seconds: number;
  /** The pace that spreads `orders` over the load phase. */
  ratePerSecond: number;
  workers: number;
  /** Each with its own token and Socket.IO client. */
  customers: number;
  /** Upper bound of the wait for every order to be terminal after the load. */
  quiescenceSeconds: number;
  seed: number;
  runDir: string;
  keepDatabase: boolean;
  /** Also picks the quick fault schedule (FAULTS). */
  quick: boolean;
}

/** What `npm run chaos -- --help` prints; a usage error quotes its usage line. */
export const CHAOS: Command = {
  name: 'chaos',
  usage:
    'usage: npm run chaos -- [--quick] [--orders N] [--seconds S] [--workers N] [--seed N] [--run-dir DIR] [--keep-db]',
  summary:
    'A bounded chaos run of the whole stack on loopback: it starts its own stack, places a mixed load while killing workers, restarting the relay, Redis and Temporal, cutting PostgreSQL sessions and switching on gateway outages, resolves NEEDS_ATTENTION orders as an operator would, waits for every order to end, checks every invariant, prints a summary and stops everything it started. Exit code: 0 no violation, 1 violations, 2 the run itself could not be carried out, 130 interrupted.',
  arguments: [
    ['--quick', 'a short run: 60 orders, under a minute of load, fewer faults (what CI runs)'],
    ['--orders N', 'orders to place (default 300, 60 with --quick)'],
    ['--seconds S', "upper bound of the load phase (default: the time the orders take at the run's pace, plus 15)"],
    ['--workers N', 'worker processes on the task queue (default 2)'],
    ['--seed N', 'seed of the order mix and the fault schedule (default: random); the same seed replays them'],
    ['--run-dir DIR', 'where logs, the workflow bundle and summary.json go (default .data/chaos/<timestamp>)'],
    ['--keep-db', 'keep the chaos database at the end, to inspect it'],
  ],
  environment: [
    [
      'DATABASE_URL',
      'the PostgreSQL server of its throwaway orderflow_chaos_<pid> database (unset: 127.0.0.1:5432, else an embedded one)',
    ],
    ['TEMPORAL_CLI_PATH', 'the Temporal CLI of its dev server (unset: found or built as npm start does)'],
    ['PATH', 'where redis-server is looked up'],
  ],
  example: 'npm run chaos -- --quick --seed 42',
  more: 'docs/chaos.md',
};

/** The run the command line asks for; `--help` and a wrong command line end the process (lib/cli.ts). */
export function parseChaosCommandLine(): ChaosOptions {
  const { values } = parseCommandLine(CHAOS, {
    options: {
      orders: { type: 'string' },
      seconds: { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      'run-dir': { type: 'string' },
      quick: { type: 'boolean', default: false },
      'keep-db': { type: 'boolean', default: false },
    },
  });
  const count = (name: 'orders' | 'seconds' | 'workers' | 'seed', fallback: number): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) <= 0) usageError(CHAOS, `--${name} needs a positive integer, got "${raw}"`);
    return Number(raw);
  };

  const { quick } = values;
  const orders = count('orders', quick ? 60 : 300);
  const ratePerSecond = quick ? 2.5 : 3.5;
  return {
    orders,
    seconds: count('seconds', Math.ceil(orders / ratePerSecond) + 15),
    ratePerSecond,
    workers: count('workers', 2),
    customers: quick ? 6 : 12,
    quiescenceSeconds: quick ? 75 : 180,
    seed: count('seed', Math.floor(Math.random() * 1_000_000) + 1),
    runDir: path.resolve(
      values['run-dir'] ?? path.join('.data', 'chaos', new Date().toISOString().replace(/[:.]/g, '-')),
    ),
    keepDatabase: values['keep-db'],
    quick,
  };
}

/** A seeded source of randomness (mulberry32): every random choice of a run comes from one of these. */
export type Random = ReturnType<typeof createRandom>;

/** Builds a seeded random source. */
export function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => {
    const item = items[Math.floor(next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  };
  return {
    next,
    /** Uniform integer in [min, max]. */
    int: (min: number, max: number): number => min + Math.floor(next() * (max - min + 1)),
    chance: (p: number): boolean => next() < p,
    pick,
    /** One key, with probability proportional to its weight. */
    weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
      const entries = Object.entries(weights) as [K, number][];
      let roll = next() * entries.reduce((sum, [, weight]) => sum + weight, 0);
      for (const [key, weight] of entries) {
        roll -= weight;
        if (roll < 0) return key;
      }
      const [last] = entries.slice(-1); // rounding can leave a sliver past the last weight
      if (last === undefined) throw new Error('weighted pick from no weights');
      return last[0];
    },
    hex: (length: number): string => Array.from({ length }, () => Math.floor(next() * 16).toString(16)).join(''),
  };
}
