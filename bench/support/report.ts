/**
 * The standard figures of a load scenario (minimal, floor, spread, hot): throughput, latency percentiles, peak RSS and
 * CPU per process, the distributions for the chart; how rounds merge into one report and how a report prints.
 */
import type { CpuUsage } from './cpu';
import { formatCounts, mergeHistoryCounts, type HistoryCounts } from './history';
import type { PhaseResult } from './load';
import { median, quantileCurve, round, summarize, type LatencySummary } from './stats';

/** One step of the open-loop ramp behind the knee; `acceptedP50` is start -> accepted (POST -> 201). */
export interface KneeStep {
  offeredRate: number;
  achievedRate: number;
  p50: number;
  p99: number;
  acceptedP50: number;
  errors: number;
  dropped: number;
}

/** p50s (ms) of one open-loop step at `LOW_LOAD_FRACTION` of capacity; merged rounds: count summed, else medians. */
export interface LowLoadReport {
  offeredRate: number;
  count: number;
  acceptedP50: number;
  doneP50: number;
}

/** Offered rate of the low-load step, as a fraction of the closed-loop throughput (issue 16: <= 20 % of capacity). */
export const LOW_LOAD_FRACTION = 0.2;

/** spread's ramp and its knee: the offered rate where p99 reaches twice `lowLoadP99` (null: not reached). */
export interface KneeReport {
  steps: KneeStep[];
  lowLoadP99: number;
  kneeRate: number | null;
}

/**
 * Throughput and latency of a load scenario (measured `rounds` merged), as the table, the chart and the results file
 * read them. `accepted`: start to POST answered (orders) or update returned (workflows); `done`: to the COMPLETED
 * event on Socket.IO or the workflow result. CPU per operation is CPU / `allCompleted` (warm-up and tail included).
 */
export interface LoadReport {
  unit: 'orders' | 'workflows';
  concurrency: number;
  rounds: number;
  throughput: number;
  completed: number;
  allCompleted: number;
  errors: number;
  seconds: number;
  accepted: LatencySummary;
  done: LatencySummary;
  /** Peak RSS (VmHWM) of each process during the closed loop, MiB. */
  peakRssMb: Record<string, number>;
  /** CPU of each process (`bench`: the load generator) from the start of the phase to the end of its pause. */
  cpu?: { msPerOp: Record<string, number>; seconds: Record<string, number>; machineBusy: number | undefined };
  /** Quantile curves `[percentile, ms]` of both latencies, for the chart. */
  curves: { accepted: [number, number][]; done: [number, number][] };
  knee?: KneeReport;
  lowLoad?: LowLoadReport;
  history?: HistoryCounts;
  /** Every latency sample, for merging rounds; dropped before the results file is written. */
  samples?: { accepted: number[]; done: number[] };
  /** Machine busy share weighted by wall time, for merging rounds. */
  cpuWallSeconds?: number;
}

/** What a report is computed from: one round's phase, or the rounds to merge. */
interface ReportParts extends Pick<
  PhaseResult,
  'completed' | 'allCompleted' | 'errors' | 'seconds' | 'accepted' | 'done'
> {
  peakRssMb: Record<string, number>;
  cpuSeconds: Record<string, number>;
  /** Machine busy share x wall seconds, and those wall seconds (of windows where the share is known). */
  busyWeighted: number;
  busyWall: number;
}

function buildReport(unit: LoadReport['unit'], concurrency: number, rounds: number, parts: ReportParts): LoadReport {
  const { completed, allCompleted, seconds, accepted, done, cpuSeconds, busyWall } = parts;
  const msPerOp = Object.entries(cpuSeconds).map(([name, s]) => [name, round((s * 1000) / allCompleted, 1)]);
  const machineBusy = busyWall > 0 ? round(parts.busyWeighted / busyWall, 2) : undefined;
  return {
    unit,
    concurrency,
    rounds,
    throughput: round(completed / seconds, 1),
    completed,
    allCompleted,
    errors: parts.errors,
    seconds,
    accepted: summarize(accepted),
    done: summarize(done),
    peakRssMb: parts.peakRssMb,
    ...(Object.keys(cpuSeconds).length > 0 && allCompleted > 0
      ? { cpu: { msPerOp: Object.fromEntries(msPerOp), seconds: cpuSeconds, machineBusy }, cpuWallSeconds: busyWall }
      : {}),
    curves: { accepted: quantileCurve(accepted), done: quantileCurve(done) },
    samples: { accepted, done },
  };
}

/** Builds the report of one closed-loop phase. */
export function loadReport(
  unit: LoadReport['unit'],
  concurrency: number,
  phase: PhaseResult,
  peakRssMb: Record<string, number | undefined>,
  cpu: CpuUsage,
): LoadReport {
  const busyWall = cpu.machineBusy === undefined ? 0 : cpu.wallSeconds;
  return buildReport(unit, concurrency, 1, {
    ...phase,
    peakRssMb: Object.fromEntries(
      Object.entries(peakRssMb).filter((entry): entry is [string, number] => entry[1] !== undefined),
    ),
    cpuSeconds: cpu.seconds,
    busyWeighted: (cpu.machineBusy ?? 0) * busyWall,
    busyWall,
  });
}

/**
 * Merges the rounds of one scenario: throughput over all measured windows, percentiles over all samples, the highest
 * peak RSS, CPU summed; the knee of whichever round ran it, the median of the low-load steps.
 */
export function mergeLoadReports(reports: readonly LoadReport[]): LoadReport {
  const [first] = reports;
  if (first === undefined) throw new Error('no report to merge');
  if (reports.length === 1) return first;
  const sum = (pick: (r: LoadReport) => number): number => reports.reduce((total, r) => total + pick(r), 0);
  const parts: ReportParts = {
    completed: sum((r) => r.completed),
    allCompleted: sum((r) => r.allCompleted),
    errors: sum((r) => r.errors),
    seconds: sum((r) => r.seconds),
    accepted: reports.flatMap((r) => r.samples?.accepted ?? []),
    done: reports.flatMap((r) => r.samples?.done ?? []),
    peakRssMb: {},
    cpuSeconds: {},
    busyWeighted: 0,
    busyWall: 0,
  };
  for (const r of reports) {
    for (const [name, mb] of Object.entries(r.peakRssMb)) {
      parts.peakRssMb[name] = Math.max(parts.peakRssMb[name] ?? 0, mb);
    }
    for (const [name, s] of Object.entries(r.cpu?.seconds ?? {})) {
      parts.cpuSeconds[name] = (parts.cpuSeconds[name] ?? 0) + s;
    }
    if (r.cpu?.machineBusy !== undefined && r.cpuWallSeconds !== undefined) {
      parts.busyWeighted += r.cpu.machineBusy * r.cpuWallSeconds;
      parts.busyWall += r.cpuWallSeconds;
    }
  }
  const knee = reports.find((r) => r.knee !== undefined)?.knee;
  const history = mergeHistoryCounts(reports.map((r) => r.history));
  const lowLoads = reports.flatMap((r) => (r.lowLoad === undefined ? [] : [r.lowLoad]));
  const medianOf = (pick: (l: LowLoadReport) => number, decimals?: number): number =>
    round(median(lowLoads.map(pick)), decimals);
  const lowLoad: LowLoadReport = {
    offeredRate: medianOf((l) => l.offeredRate, 1),
    count: lowLoads.reduce((total, l) => total + l.count, 0),
    acceptedP50: medianOf((l) => l.acceptedP50),
    doneP50: medianOf((l) => l.doneP50),
  };
  return {
    ...buildReport(
      first.unit,
      first.concurrency,
      sum((r) => r.rounds),
      parts,
    ),
    ...(knee !== undefined ? { knee } : {}),
    ...(history !== undefined ? { history } : {}),
    ...(lowLoads.length > 0 ? { lowLoad } : {}),
  };
}

/** Operations per second over the measured windows, unrounded (ratios between scenarios use this). */
export function rate(report: LoadReport): number {
  return report.seconds > 0 ? report.completed / report.seconds : 0;
}

/** The sum of the CPU ms per operation of every process of the stack (the load generator excluded). */
export function stackCpuMsPerOp(report: LoadReport): number | undefined {
  if (report.cpu === undefined) return undefined;
  const total = Object.entries(report.cpu.msPerOp)
    .filter(([name]) => name !== 'bench')
    .reduce((sum, [, ms]) => sum + ms, 0);
  return round(total, 1);
}

/** The printed figures of a load report, labelled for its unit. */
export function loadFigures(report: LoadReport): Record<string, number | string> {
  const orders = report.unit === 'orders';
  const [accepted, done] = orders
    ? ['POST -> 201', 'POST -> COMPLETED event']
    : ['start -> update result', 'start -> result'];
  const per = orders ? 'order' : 'workflow';
  const figures: Record<string, number | string> = {
    [`${report.unit}/s`]: report.throughput,
    concurrency: report.concurrency,
    [`${report.unit} measured`]: `${report.completed} in ${report.seconds}s (${report.rounds} round(s))`,
    errors: report.errors,
    [`${accepted} p50/p95/p99 ms`]: `${report.accepted.p50} / ${report.accepted.p95} / ${report.accepted.p99}`,
    [`${done} p50/p95/p99 ms`]: `${report.done.p50} / ${report.done.p95} / ${report.done.p99}`,
  };
  for (const [name, mb] of Object.entries(report.peakRssMb)) figures[`peak RSS ${name} MiB`] = mb;
  if (report.cpu !== undefined) {
    figures[`CPU ms per ${per}`] = Object.entries(report.cpu.msPerOp)
      .map(([name, ms]) => `${name} ${ms}`)
      .join(', ');
    figures[`CPU ms per ${per}, whole stack`] = stackCpuMsPerOp(report) ?? '-';
    if (report.cpu.machineBusy !== undefined) {
      figures['machine CPU busy, load + pause (all processes)'] = `${Math.round(report.cpu.machineBusy * 100)}%`;
    }
  }
  if (report.history !== undefined) {
    const h = report.history;
    const what = `per ${per}: workflow tasks / activity tasks / local activities / history events`;
    figures[what] = `${formatCounts(h)} (mean of ${h.sampled} histories; most events ${h.maxEvents})`;
  }
  if (report.lowLoad !== undefined) {
    const l = report.lowLoad;
    figures[`low load (${l.offeredRate}/s offered): accept p50 / done p50 ms`] =
      `${l.acceptedP50} / ${l.doneP50} (${l.count} operations)`;
  }
  if (report.knee !== undefined) {
    figures['knee ramp (offered/s: p50, p99 ms)'] = report.knee.steps
      .map((step) => `${step.offeredRate}: ${step.p50}, ${step.p99}`)
      .join('; ');
    figures['low-load p99 ms (first ramp step)'] = report.knee.lowLoadP99;
    figures['knee: offered orders/s where p99 doubles'] =
      report.knee.kneeRate ?? `> ${report.knee.steps.at(-1)?.offeredRate ?? 0} (not reached)`;
  }
  return figures;
}
