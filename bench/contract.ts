/** The contract between bench/main.ts (runs the scenarios, merges their rounds, checks goals) and each scenario. */
import type { BenchStack } from './support/stack';
import type { LoadReport } from './support/report';

/** Options every scenario receives. */
export interface BenchOptions {
  quick: boolean;
  settings: ScenarioSettings;
  log: (line: string) => void;
  /** The run's shared stack; scenarios that read `loadConfig()` also find it in the environment. */
  stack: BenchStack;
  /** Results of the scenarios (and rounds) that ran before this one in the same run. */
  results: readonly ScenarioResult[];
  /** Which round this is: the load scenarios run in interleaved rounds (`--rounds=N`), the others once. */
  round: { index: number; count: number };
  /** How long a load scenario pauses after its load, CPU still counted (`--drain`; why: main.ts DRAIN_SECONDS). */
  drainMs: number;
  /** True for the last load scenario of the run: a pause after it protects nothing still to be measured. */
  lastInRun: boolean;
}

/** Scenario options from the command line, checked once: `--concurrency`, `--clients`, `--rate`, `--no-knee`, ... */
export interface ScenarioSettings {
  concurrency: number;
  clients: number;
  rate: number;
  /** spread's knee ramp (off with `--no-knee`, and in `--compare`). */
  knee: boolean;
  /** spread's low-load step in every round without the ramp (`--low-load`, set by `--compare`). */
  lowLoad: boolean;
}

/** A goal evaluated once every round of every scenario ran; `goalMet` undefined: it cannot be (another did not run). */
export interface GoalCheck {
  goal: string;
  goalMet?: boolean;
  figures?: Record<string, number | string>;
}

/** A scenario module (`bench/scenarios/<name>.ts`) and its optional goal against the merged results of the run. */
export interface ScenarioModule {
  run: (options: BenchOptions) => Promise<ScenarioResult>;
  goal?: (self: ScenarioResult, all: readonly ScenarioResult[]) => GoalCheck;
}

/** What a scenario returns: named figures, the goal check, and what the table and the chart read. */
export interface ScenarioResult {
  scenario: string;
  figures: Record<string, number | string>;
  /** Human-readable goal, e.g. "ours/baseline >= 0.6". */
  goal?: string;
  goalMet?: boolean;
  /** Throughput, latency and memory of a load scenario. */
  load?: LoadReport;
  /** DESIGN invariant violations found after the scenario, one line each; any fails the run (exit 1). */
  violations?: string[];
  /** Set when the scenario threw. */
  error?: string;
  /** PostgreSQL deadlocks during the scenario (`pg_stat_database` delta), and its orders by final status. */
  deadlocks?: number;
  orderStatuses?: Record<string, number>;
}
