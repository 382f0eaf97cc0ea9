/**
 * The bench's SVG chart, by hand (no chart library): the load scenarios' latency distributions on a "nines" axis
 * (p50, p90, p99, p99.9), log latency, accept dashed and done solid; and spread's knee ramp when it ran.
 */
import type { LoadReport } from './support/report';

/** One scenario's distributions, as the chart draws them. */
export interface ChartSeries {
  scenario: string;
  report: LoadReport;
}

const WIDTH = 1100;
const HEIGHT = 600;
const PANEL = { top: 90, bottom: 420, left1: 70, right1: 610, left2: 690, right2: 1070 };
/** Where the legend of the distribution panel starts (below its axis). */
const LEGEND_TOP = 480;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A line from (x1, y1) to (x2, y2); `attrs` style it (a class, a stroke). */
const line = (x1: number, x2: number, y1: number, y2: number, attrs: string): string =>
  `<line x1="${x1.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${y1.toFixed(1)}" y2="${y2.toFixed(1)}" ${attrs}/>`;

const fmt = (value: number): string => (Number.isInteger(value) ? String(value) : value.toFixed(1));

/** The "nines" position of a percentile: 0 at p0, 1 at p90, 2 at p99, 3 at p99.9. */
const nines = (p: number): number => -Math.log10(Math.max(1e-3, 1 - p / 100));

/** 1-2-5 ticks covering [min, max] on a log axis. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(min)); decade <= max * 10; decade *= 10) {
    for (const step of [1, 2, 5]) {
      const value = decade * step;
      if (value >= min && value <= max) ticks.push(value);
    }
  }
  return ticks;
}

/** Evenly spaced round ticks covering [0, max]. */
function linearTicks(max: number, count = 5): number[] {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let value = 0; value <= max + 1e-9; value += step) ticks.push(Math.round(value * 1000) / 1000);
  return ticks;
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(content)}</text>`;
}

function distributionPanel(series: ChartSeries[]): string[] {
  const out: string[] = [];
  const { top, bottom, left1: left, right1: right } = PANEL;
  const values = series.flatMap((s) => [...s.report.curves.done, ...s.report.curves.accepted].map(([, ms]) => ms));
  const positive = values.filter((ms) => ms > 0);
  const min = Math.max(0.1, Math.min(...positive));
  const max = Math.max(...positive, 10);
  const [yMin, yMax] = [10 ** Math.floor(Math.log10(min)), 10 ** Math.ceil(Math.log10(max))];
  const x = (p: number): number => left + (nines(p) / 3) * (right - left);
  const y = (ms: number): number =>
    bottom -
    ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (bottom - top);

  out.push(text(left, top - 14, 'Latency distribution (ms, log) by percentile', 'font-weight="bold"'));
  for (const tick of logTicks(yMin, yMax)) {
    out.push(line(left, right, y(tick), y(tick), 'class="grid"'));
    out.push(text(left - 6, y(tick) + 4, fmt(tick), 'text-anchor="end"'));
  }
  for (const p of [0, 50, 90, 99, 99.9]) {
    out.push(line(x(p), x(p), top, bottom, 'class="grid"'));
    out.push(text(x(p), bottom + 18, p === 0 ? 'p0' : `p${p}`, 'text-anchor="middle"'));
  }
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" class="frame"/>`);
  out.push(text((left + right) / 2, bottom + 38, 'percentile', 'text-anchor="middle"'));

  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length] ?? '#000';
    for (const [curve, dash] of [
      [s.report.curves.done, ''],
      [s.report.curves.accepted, ' stroke-dasharray="6 4"'],
    ] as const) {
      if (curve.length === 0) continue;
      const points = curve
        .filter(([p]) => p <= 99.9)
        .map(([p, ms]) => `${x(p).toFixed(1)},${y(ms).toFixed(1)}`)
        .join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    const names = s.report.unit === 'orders' ? ['POST -> COMPLETED', 'POST -> 201'] : ['result', 'update'];
    [s.report.done, s.report.accepted].forEach((summary, row) => {
      const legendY = LEGEND_TOP + index * 36 + row * 15;
      const dash = row === 0 ? '' : ' stroke-dasharray="6 4"';
      out.push(line(left + 10, left + 40, legendY, legendY, `stroke="${color}" stroke-width="2"${dash}`));
      const what = `${s.scenario} ${names[row] ?? ''}: p50 ${summary.p50} / p99 ${summary.p99} ms`;
      out.push(text(left + 46, legendY + 4, what));
    });
  });
  return out;
}

function kneePanel(knee: NonNullable<LoadReport['knee']>): string[] {
  const out: string[] = [];
  const { top, bottom, left2: left, right2: right } = PANEL;
  const maxRate = Math.max(...knee.steps.map((s) => s.offeredRate), 1) * 1.05;
  const maxMs = Math.max(...knee.steps.map((s) => s.p99), 2 * knee.lowLoadP99, 1) * 1.1;
  const x = (rate: number): number => left + (rate / maxRate) * (right - left);
  const y = (ms: number): number => bottom - (ms / maxMs) * (bottom - top);
  out.push(text(left, top - 14, 'spread: latency vs offered rate (open loop)', 'font-weight="bold"'));
  for (const tick of linearTicks(maxMs)) {
    if (tick > maxMs) continue;
    out.push(line(left, right, y(tick), y(tick), 'class="grid"'));
    out.push(text(left - 6, y(tick) + 4, fmt(tick), 'text-anchor="end"'));
  }
  for (const tick of linearTicks(maxRate)) {
    if (tick > maxRate) continue;
    out.push(text(x(tick), bottom + 18, fmt(tick), 'text-anchor="middle"'));
  }
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" class="frame"/>`);
  out.push(text((left + right) / 2, bottom + 38, 'offered orders/s', 'text-anchor="middle"'));
  const doubled = 2 * knee.lowLoadP99;
  out.push(line(left, right, y(doubled), y(doubled), 'stroke="#888" stroke-dasharray="3 3"'));
  out.push(text(left + 4, y(doubled) - 4, `2 x low-load p99 = ${fmt(doubled)} ms`, 'fill="#555"'));
  for (const [key, color] of [
    ['p99', '#d62728'],
    ['p50', '#1f77b4'],
  ] as const) {
    const points = knee.steps.map((s) => `${x(s.offeredRate).toFixed(1)},${y(s[key]).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const s of knee.steps) {
      out.push(`<circle cx="${x(s.offeredRate).toFixed(1)}" cy="${y(s[key]).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  }
  out.push(text(left + 10, top + 16, 'p99 (POST -> COMPLETED)', 'fill="#d62728"'));
  out.push(text(left + 10, top + 32, 'p50', 'fill="#1f77b4"'));
  knee.steps.forEach((step, index) => {
    const column = index < 5 ? 0 : 1;
    out.push(
      text(
        left + column * 190,
        LEGEND_TOP + (index % 5) * 16,
        `${fmt(step.offeredRate)}/s -> ${fmt(step.achievedRate)}/s, p99 ${Math.round(step.p99)} ms`,
        'fill="#333"',
      ),
    );
  });
  if (knee.kneeRate !== null) {
    out.push(line(x(knee.kneeRate), x(knee.kneeRate), top, bottom, 'stroke="#000" stroke-dasharray="5 3"'));
    const nearRight = x(knee.kneeRate) > right - 80;
    out.push(
      text(
        x(knee.kneeRate) + (nearRight ? -4 : 4),
        top + 48,
        `knee ${fmt(knee.kneeRate)}/s`,
        nearRight ? 'text-anchor="end"' : '',
      ),
    );
  }
  return out;
}

/** Renders the chart; `subtitle` names the machine and the run. */
export function renderChart(series: ChartSeries[], subtitle: string): string {
  const knee = series.find((s) => s.report.knee !== undefined)?.report.knee;
  const body = [
    text(20, 28, 'OrderFlow bench', 'font-size="18" font-weight="bold"'),
    text(20, 48, subtitle, 'fill="#555"'),
    ...(series.length > 0 ? distributionPanel(series) : [text(70, 100, 'no load scenario ran')]),
    ...(knee !== undefined && knee.steps.length > 0 ? kneePanel(knee) : []),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    '<style>.grid{stroke:#e5e5e5;stroke-width:1}.frame{fill:none;stroke:#333;stroke-width:1}</style>',
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
