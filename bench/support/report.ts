/**
 * The standard figures of a load scenario (floor, spread, hot) — throughput, latency percentiles, peak RSS and CPU
 * per process, the distributions for the chart — how rounds of one scenario are merged into one report, and how a
 * report is turned into printed figures.
 */
import type { CpuUsage } from './cpu';
import { formatCounts, mergeHistoryCounts, type HistoryCounts } from './history';
import type { PhaseResult } from './load';
import { median, quantileCurve, round, summarize, type LatencySummary } from './stats';

/** One step of the open-loop ramp behind the knee. */
export interface KneeStep {
  offeredRate: number;
  achievedRate: number;
  p50: number;
  p99: number;
  /** p50 of start -> accepted (POST -> 201) at this step. */
  acceptedP50: number;
  errors: number;
  dropped: number;
}

/**
 * Latency at low load: one open-loop step at `LOW_LOAD_FRACTION` of the closed-loop throughput just measured (the
 * first step of the knee ramp, or a step of its own with `--low-load` / `--compare`).
 */
export interface LowLoadReport {
  offeredRate: number;
  /** Operations measured (merged rounds: summed). */
  count: number;
  /** p50 of start -> accepted (POST -> 201), ms (merged rounds: the median of the rounds' p50s). */
  acceptedP50: number;
  /** p50 of start -> done (POST -> COMPLETED event), ms (merged rounds: likewise). */
  doneP50: number;
}

/** Offered rate of the low-load step, as a fraction of the closed-loop throughput (issue 16: <= 20 % of capacity). */
export const LOW_LOAD_FRACTION = 0.2;

/** The open-loop ramp of `spread` and the knee found on it. */
export interface KneeReport {
  steps: KneeStep[];
  /** p99 (POST -> COMPLETED) at the first, lowest offered rate. */
  lowLoadP99: number;
  /** Offered orders/s at which p99 reaches twice `lowLoadP99` (interpolated); null when no step got there. */
  kneeRate: number | null;
}

/** Throughput and latency of a load scenario, as the table, the chart and the results file read them. */
export interface LoadReport {
  /** What one operation is: an order through the API, or a floor workflow. */
  unit: 'orders' | 'workflows';
  concurrency: number;
  /** Measured rounds merged into this report. */
  rounds: number;
  /** Operations completed per second in the measured windows. */
  throughput: number;
  completed: number;
  /** Every operation of the phase (warm-up and tail included): CPU per operation is CPU / this. */
  allCompleted: number;
  errors: number;
  seconds: number;
  /** Start to accepted: POST /orders answered (orders) or the reservation update returned (floor). */
  accepted: LatencySummary;
  /** Start to done: COMPLETED event received by the Socket.IO client (orders) or the workflow result (floor). */
  done: LatencySummary;
  /** Peak RSS (VmHWM) of each process during the measured phases, MiB. */
  peakRssMb: Record<string, number>;
  /**
   * CPU of each process (`bench` is the load generator) from the start of the phase to the end of the pause after it
   * (Temporal's deferred timer work included), per operation of the phase, and the share of the whole machine that
   * was busy meanwhile (ours and everyone else's).
   */
  cpu?: { msPerOp: Record<string, number>; seconds: Record<string, number>; machineBusy: number | undefined };
  /** Quantile curves `[percentile, ms]` of both latencies, for the chart. */
  curves: { accepted: [number, number][]; done: [number, number][] };
  /** Open-loop ramp (spread only). */
  knee?: KneeReport;
  /** Latency at low load (spread, when measured). */
  lowLoad?: LowLoadReport;
  /** Per-workflow history counts of a sample of the operations (support/history.ts). */
  history?: HistoryCounts;
  /** Every latency sample, for merging rounds; dropped before the results file is written. */
  samples?: { accepted: number[]; done: number[] };
  /** Machine busy share weighted by wall time, for merging rounds. */
  cpuWallSeconds?: number;
}

/** What a report is computed from: one round's phase, or the rounds to merge. */
interface ReportParts {
  completed: number;
  allCompleted: number;
  errors: number;
  seconds: number;
  accepted: number[];
  done: number[];
  peakRssMb: Record<string, number>;
  cpuSeconds: Record<string, number>;
  /** Machine busy share x wall seconds, and those wall seconds (windows where the share is known). */
  busyWeighted: number;
  busyWall: number;
}

function buildReport(unit: LoadReport['unit'], concurrency: number, rounds: number, parts: ReportParts): LoadReport {
  const { completed, allCompleted, seconds, accepted, done, cpuSeconds, busyWall } = parts;
  const msPerOp = Object.entries(cpuSeconds).map(([name, s]) => [name, round((s * 1000) / allCompleted, 1)]);
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
      ? {
          cpu: {
            msPerOp: Object.fromEntries(msPerOp),
            seconds: cpuSeconds,
            machineBusy: busyWall > 0 ? round(parts.busyWeighted / busyWall, 2) : undefined,
          },
          cpuWallSeconds: busyWall,
        }
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
  cpu?: CpuUsage,
): LoadReport {
  const busy = cpu?.machineBusy;
  return buildReport(unit, concurrency, 1, {
    ...phase,
    peakRssMb: Object.fromEntries(
      Object.entries(peakRssMb).filter((entry): entry is [string, number] => entry[1] !== undefined),
    ),
    cpuSeconds: cpu?.seconds ?? {},
    busyWeighted: busy === undefined || cpu === undefined ? 0 : busy * cpu.wallSeconds,
    busyWall: busy === undefined || cpu === undefined ? 0 : cpu.wallSeconds,
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
    for (const [name, mb] of Object.entries(r.peakRssMb))
      parts.peakRssMb[name] = Math.max(parts.peakRssMb[name] ?? 0, mb);
    for (const [name, s] of Object.entries(r.cpu?.seconds ?? {}))
      parts.cpuSeconds[name] = (parts.cpuSeconds[name] ?? 0) + s;
    if (r.cpu?.machineBusy !== undefined && r.cpuWallSeconds !== undefined) {
      parts.busyWeighted += r.cpu.machineBusy * r.cpuWallSeconds;
      parts.busyWall += r.cpuWallSeconds;
    }
  }
  const knee = reports.find((r) => r.knee !== undefined)?.knee;
  const history = mergeHistoryCounts(reports.map((r) => r.history));
  const lowLoads = reports.flatMap((r) => (r.lowLoad === undefined ? [] : [r.lowLoad]));
  const medianOf = (pick: (l: LowLoadReport) => number): number => median(lowLoads.map(pick));
  return {
    ...buildReport(
      first.unit,
      first.concurrency,
      sum((r) => r.rounds),
      parts,
    ),
    ...(knee !== undefined ? { knee } : {}),
    ...(history !== undefined ? { history } : {}),
    ...(lowLoads.length > 0
      ? {
          lowLoad: {
            offeredRate: round(
              medianOf((l) => l.offeredRate),
              1,
            ),
            count: lowLoads.reduce((total, l) => total + l.count, 0),
            acceptedP50: round(medianOf((l) => l.acceptedP50)),
            doneP50: round(medianOf((l) => l.doneP50)),
          },
        }
      : {}),
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
  const [accepted, done] =
    report.unit === 'orders'
      ? ['POST -> 201', 'POST -> COMPLETED event']
      : ['start -> update result', 'start -> result'];
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
    const unit = report.unit === 'orders' ? 'order' : 'workflow';
    figures[`CPU ms per ${unit}`] = Object.entries(report.cpu.msPerOp)
      .map(([name, ms]) => `${name} ${ms}`)
      .join(', ');
    figures[`CPU ms per ${unit}, whole stack`] = stackCpuMsPerOp(report) ?? '-';
    if (report.cpu.machineBusy !== undefined) {
      figures['machine CPU busy, load + pause (all processes)'] = `${Math.round(report.cpu.machineBusy * 100)}%`;
    }
  }
  if (report.history !== undefined) {
    const h = report.history;
    figures[
      `per ${report.unit === 'orders' ? 'order' : 'workflow'}: workflow tasks / activity tasks / local activities / history events`
    ] = `${formatCounts(h)} (mean of ${h.sampled} histories; most events ${h.maxEvents})`;
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
