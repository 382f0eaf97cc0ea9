/**
 * What a bench scenario is, receives and returns: the contract between bench/main.ts (which runs the scenarios on one
 * shared stack, merges their rounds and checks their goals) and each `bench/scenarios/<name>.ts`.
 */
import type { BenchStack } from './support/stack';
import type { LoadReport } from './support/report';

/** Options every scenario receives. */
export interface BenchOptions {
  quick: boolean;
  /** The scenarios' options from the command line, checked once (`settingsOf`). */
  settings: ScenarioSettings;
  log: (line: string) => void;
  /** The run's shared stack; scenarios that read `loadConfig()` also find it in the environment. */
  stack: BenchStack;
  /** Results of the scenarios (and rounds) that ran before this one in the same run. */
  results: readonly ScenarioResult[];
  /** Which round this is: floor, spread and hot run in interleaved rounds (`--rounds=N`); others once. */
  round: { index: number; count: number };
  /**
   * How long a load scenario pauses after its load (`--drain=S`), CPU still counted: Temporal's deferred work for its
   * workflows lands then, in its own account, not in the next scenario's window.
   */
  drainMs: number;
  /** True for the last load scenario of the run: a pause after it protects nothing still to be measured. */
  lastInRun: boolean;
}

/** Scenario options: `--concurrency`, `--clients`, `--rate`, `--no-knee`, `--low-load`. */
export interface ScenarioSettings {
  /** Closed-loop workers of the load scenarios. @default 32 */
  concurrency: number;
  /** Socket.IO clients of `realtime`. @default 1000 */
  clients: number;
  /** Events per second of `realtime`. @default 200 */
  rate: number;
  /** spread's knee ramp (off with `--no-knee`, and in `--compare`). */
  knee: boolean;
  /** spread's low-load step in every round without the ramp (`--low-load`, set by `--compare`). */
  lowLoad: boolean;
}

/** A goal evaluated once every round of every scenario ran (ratios between scenarios). */
export interface GoalCheck {
  goal: string;
  /** Undefined when the goal cannot be evaluated (e.g. the other scenario did not run). */
  goalMet?: boolean;
  figures?: Record<string, number | string>;
}

/** A scenario module (`bench/scenarios/<name>.ts`). */
export interface ScenarioModule {
  run: (options: BenchOptions) => Promise<ScenarioResult>;
  /** Optional: the scenario's goal against the merged results of the whole run. */
  goal?: (self: ScenarioResult, all: readonly ScenarioResult[]) => GoalCheck;
}

/** What a scenario returns: named figures plus the goal check. */
export interface ScenarioResult {
  scenario: string;
  figures: Record<string, number | string>;
  /** Human-readable goal, e.g. "ours/baseline >= 0.6". */
  goal?: string;
  goalMet?: boolean;
  /** Throughput, latency and memory of a load scenario (floor, spread, hot): the table and the chart read these. */
  load?: LoadReport;
  /** DESIGN invariant violations found after the scenario, one line each; any fails the run (exit 1). */
  violations?: string[];
  /** Set when the scenario threw. */
  error?: string;
  /** PostgreSQL deadlocks during the scenario (`pg_stat_database` delta). */
  deadlocks?: number;
  /** The scenario's orders by final status. */
  orderStatuses?: Record<string, number>;
}
