/**
 * Command line of `npm run chaos`: the size of the run and where it writes, plus the seeded random source every part
 * of the run draws from (the same seed replays the same order mix and fault schedule; timings still vary).
 */
import path from 'node:path';
import { UsageError, type Command, type CommandLine } from '../lib/cli';

/** What one chaos run does. */
export interface ChaosOptions {
  /** Orders to place. @default 300, 60 with `--quick` */
  orders: number;
  /** Upper bound of the load phase in seconds; the load stops at `orders` or here, whichever comes first. */
  seconds: number;
  /** Orders started per second (the pace that spreads `orders` over the load phase). */
  ratePerSecond: number;
  /** Worker processes on the task queue (one of them is SIGKILLed at a time). @default 2 */
  workers: number;
  /** Customers, each with its own token and Socket.IO client. */
  customers: number;
  /** How many of each fault the schedule injects. */
  faults: FaultCounts;
  /** Upper bound of the wait for every order to be terminal after the load, in seconds. */
  quiescenceSeconds: number;
  /** Seed of the random source. */
  seed: number;
  /** Where logs, the workflow bundle and summary.json go. @default .data/chaos/<timestamp> */
  runDir: string;
  /** Keep the chaos database instead of dropping it at the end (to inspect it). */
  keepDatabase: boolean;
  quick: boolean;
}

/** How many times each fault is injected. */
export interface FaultCounts {
  workerKills: number;
  relayRestarts: number;
  redisRestarts: number;
  temporalRestarts: number;
  postgresTerminations: number;
  gatewayOutages: number;
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

/** The options `npm run chaos` takes, for `parseCommandLine` (lib/cli.ts). */
export const CHAOS_OPTIONS = {
  orders: { type: 'string' },
  seconds: { type: 'string' },
  workers: { type: 'string' },
  seed: { type: 'string' },
  'run-dir': { type: 'string' },
  quick: { type: 'boolean', default: false },
  'keep-db': { type: 'boolean', default: false },
} as const;

/** The option values `parseCommandLine` returns for `CHAOS_OPTIONS`. */
export type ChaosValues = CommandLine<{ options: typeof CHAOS_OPTIONS }>['values'];

function positiveInteger(name: string, raw: string | undefined): number {
  if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) <= 0) {
    throw new UsageError(`--${name} needs a positive integer, got "${raw ?? ''}"`);
  }
  return Number(raw);
}

/**
 * The run the parsed command line asks for (`--name value` and `--name=value` both work); throws `UsageError`
 * (lib/cli.ts) for a value it cannot use, which main reports as a usage error (exit 2).
 */
export function chaosOptions(values: ChaosValues, now: Date = new Date()): ChaosOptions {
  const count = (name: 'orders' | 'seconds' | 'workers' | 'seed', fallback: number): number =>
    values[name] === undefined ? fallback : positiveInteger(name, values[name]);

  const { quick } = values;
  const orders = count('orders', quick ? 60 : 300);
  const ratePerSecond = quick ? 2.5 : 3.5;
  const seconds = count('seconds', Math.ceil(orders / ratePerSecond) + 15);
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return {
    orders,
    seconds,
    ratePerSecond,
    workers: count('workers', 2),
    customers: quick ? 6 : 12,
    faults: quick
      ? {
          workerKills: 2,
          relayRestarts: 1,
          redisRestarts: 1,
          temporalRestarts: 1,
          postgresTerminations: 2,
          gatewayOutages: 1,
        }
      : {
          workerKills: 4,
          relayRestarts: 2,
          redisRestarts: 2,
          temporalRestarts: 1,
          postgresTerminations: 3,
          gatewayOutages: 2,
        },
    quiescenceSeconds: quick ? 75 : 180,
    seed: count('seed', Math.floor(Math.random() * 1_000_000) + 1),
    runDir: path.resolve(values['run-dir'] ?? path.join('.data', 'chaos', stamp)),
    keepDatabase: values['keep-db'],
    quick,
  };
}

/** A seeded source of randomness (mulberry32): every random choice of a run comes from one of these. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T;
  /** One key, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K;
  /** A random lowercase hex string of `length` characters. */
  hex(length: number): string;
}

/** Builds a seeded random source. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random: Random = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
    weighted: <K extends string>(weights: Readonly<Record<K, number>>): K => {
      const entries = Object.entries(weights) as [K, number][];
      const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
      let roll = next() * total;
      for (const [key, weight] of entries) {
        roll -= weight;
        if (roll < 0) return key;
      }
      const last = entries[entries.length - 1];
      if (last === undefined) throw new Error('weighted pick from no weights');
      return last[0];
    },
    hex: (length) =>
      Array.from({ length }, () =>
        Math.floor(next() * 16)
          .toString(16)
          .slice(-1),
      ).join(''),
  };
  return random;
}
