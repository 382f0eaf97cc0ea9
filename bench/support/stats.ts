/**
 * Latency statistics of a benchmark phase: percentiles over every sample (no histogram approximation), a compact
 * quantile curve for the chart and the results file, and the rounding every figure is printed with.
 */

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
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

/** Rounds to two decimals (figures are printed and stored like this). */
export function round(value: number, decimals = 2): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** Summarises samples (any order; not modified). */
export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
  };
}

/**
 * The distribution as `[percentile, ms]` points, dense in the tail (every point from p0 to p99.9), so the chart and
 * the results file can redraw it without keeping every sample.
 */
export function quantileCurve(samples: readonly number[]): [number, number][] {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  const points: number[] = [];
  for (let p = 0; p < 90; p += 2) points.push(p);
  for (let p = 90; p < 99; p += 0.5) points.push(p);
  for (let p = 99; p <= 99.9; p += 0.1) points.push(round(p, 1));
  points.push(100);
  return points.map((p) => [p, round(p === 0 ? (sorted[0] ?? 0) : percentile(sorted, p))]);
}

/** Median of any numbers (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
