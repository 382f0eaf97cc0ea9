/**
 * The standard figures of a load scenario (floor, spread, hot) — throughput, latency percentiles, peak RSS per
 * process, the distributions for the chart — and how they are turned into the scenario's printed figures.
 */
import type { CpuUsage } from './cpu';
import type { PhaseResult } from './load';
import { quantileCurve, round, summarize, type LatencySummary } from './stats';

/** One step of the open-loop ramp behind the knee. */
export interface KneeStep {
  offeredRate: number;
  achievedRate: number;
  p50: number;
  p99: number;
  errors: number;
  dropped: number;
}

/** Throughput and latency of a load scenario, as the table, the chart and the results file read them. */
export interface LoadReport {
  /** What one operation is: an order through the API, or a floor workflow. */
  unit: 'orders' | 'workflows';
  concurrency: number;
  /** Operations completed per second in the measured window. */
  throughput: number;
  completed: number;
  errors: number;
  seconds: number;
  /** Start to accepted: POST /orders answered (orders) or the reservation update returned (floor). */
  accepted: LatencySummary;
  /** Start to done: COMPLETED event received by the Socket.IO client (orders) or the workflow result (floor). */
  done: LatencySummary;
  /** Peak RSS (VmHWM) of each process during the scenario, MiB. */
  peakRssMb: Record<string, number>;
  /**
   * CPU milliseconds per operation of each process during the measured window (`bench` is the load generator), and
   * the share of the whole machine that was busy meanwhile (ours and everyone else's).
   */
  cpu?: { msPerOp: Record<string, number>; machineBusy: number | undefined };
  /** Quantile curves `[percentile, ms]` of both latencies, for the chart. */
  curves: { accepted: [number, number][]; done: [number, number][] };
  /** Open-loop ramp (spread only). */
  knee?: { steps: KneeStep[]; lowLoadP99: number; kneeRate: number | null };
}

/** Builds the report of a closed-loop phase. */
export function loadReport(
  unit: LoadReport['unit'],
  concurrency: number,
  phase: PhaseResult,
  peakRssMb: Record<string, number | undefined>,
  cpu?: CpuUsage,
): LoadReport {
  const rss: Record<string, number> = {};
  for (const [name, value] of Object.entries(peakRssMb)) if (value !== undefined) rss[name] = value;
  return {
    unit,
    concurrency,
    throughput: round(phase.throughput, 1),
    completed: phase.completed,
    errors: phase.errors,
    seconds: phase.seconds,
    accepted: summarize(phase.accepted),
    done: summarize(phase.done),
    peakRssMb: rss,
    ...(cpu === undefined || phase.completed === 0
      ? {}
      : {
          cpu: {
            msPerOp: Object.fromEntries(
              Object.entries(cpu.seconds).map(([name, seconds]) => [
                name,
                round((seconds * 1000) / phase.completed, 1),
              ]),
            ),
            machineBusy: cpu.machineBusy === undefined ? undefined : round(cpu.machineBusy, 2),
          },
        }),
    curves: { accepted: quantileCurve(phase.accepted), done: quantileCurve(phase.done) },
  };
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
    [`${report.unit} measured`]: report.completed,
    errors: report.errors,
    [`${accepted} p50/p95/p99 ms`]: `${report.accepted.p50} / ${report.accepted.p95} / ${report.accepted.p99}`,
    [`${done} p50/p95/p99 ms`]: `${report.done.p50} / ${report.done.p95} / ${report.done.p99}`,
  };
  for (const [name, mb] of Object.entries(report.peakRssMb)) figures[`peak RSS ${name} MiB`] = mb;
  if (report.cpu !== undefined) {
    figures[`CPU ms per ${report.unit === 'orders' ? 'order' : 'workflow'}`] = Object.entries(report.cpu.msPerOp)
      .map(([name, ms]) => `${name} ${ms}`)
      .join(', ');
    if (report.cpu.machineBusy !== undefined) {
      figures['machine CPU busy (all processes)'] = `${Math.round(report.cpu.machineBusy * 100)}%`;
    }
  }
  return figures;
}
