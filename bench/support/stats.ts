/** Latency statistics over every sample (no histogram approximation) and the rounding every figure is printed with. */
import os from 'node:os';

/** Percentiles of one latency distribution, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

/** Rounds to two decimals (figures are printed and stored like this). */
export function round(value: number, decimals = 2): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

const ascending = (samples: readonly number[]): number[] => [...samples].sort((a, b) => a - b);

/** Summarises samples (any order; not modified). */
export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = ascending(samples);
  const at = (p: number): number => round(percentile(sorted, p));
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: round(sorted.at(-1) ?? Number.NaN) };
}

/** `[percentile, ms]` points dense in the tail (p0 to p99.9, p100): the chart redraws the distribution from them. */
export function quantileCurve(samples: readonly number[]): [number, number][] {
  const sorted = ascending(samples);
  if (sorted.length === 0) return [];
  const points: number[] = [];
  for (let p = 0; p < 90; p += 2) points.push(p);
  for (let p = 90; p < 99; p += 0.5) points.push(p);
  for (let p = 99; p <= 99.9; p += 0.1) points.push(round(p, 1));
  points.push(100);
  return points.map((p) => [p, round(p === 0 ? (sorted[0] ?? 0) : percentile(sorted, p))]);
}

/** Median (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = ascending(values);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid] ?? Number.NaN;
  return sorted.length === 0 ? Number.NaN : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The machine figures of a scenario that measures against a baseline of its own (api, export, reserve). */
export const machineFigures = (): Record<string, number> => ({
  nproc: os.availableParallelism(),
  'load average (1 min) at end': round(os.loadavg()[0] ?? Number.NaN),
});
