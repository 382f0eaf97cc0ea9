/** What a chaos run prints at the end, also written as `summary.json` in the run directory. */
import { CHECKS, classify5xx, type CheckResult } from './checks';
import { FAULT_KINDS, FAULTS, type FaultKind, type FaultRecord } from './faults';
import { TOKEN_KINDS, type LoadRecords } from './load';
import type { OpsRecords } from './ops';
import type { ChaosOptions } from './options';
import type { SocketView } from './sockets';

/** Everything the summary is made of. */
export interface RunSummary {
  options: Pick<ChaosOptions, 'orders' | 'seconds' | 'workers' | 'customers' | 'seed' | 'quick' | 'runDir'>;
  services: Record<string, string>;
  startedAt: string;
  /** In seconds. */
  durations: Record<'startup' | 'load' | 'quiescence' | 'checks' | 'total', number>;
  /** False when the quiescence wait ran out. */
  quiescent: boolean;
  /** Every order in the database by status, payments ledger rows by status, placed orders by token and status. */
  finalStatuses: Record<string, number>;
  payments: Record<string, number>;
  byToken: Record<string, Record<string, number>>;
  placed: Record<string, number>;
  faults: FaultRecord[];
  ops: OpsRecords;
  http: ReturnType<typeof httpSummary>;
  cancels: Record<string, number>;
  repeats: { sameBody: number; otherBody: number };
  realtime: { clients: number; received: number; duplicates: number; reconnects: number; orders: number };
  checks: CheckResult[];
  violations: number;
}

const pad = (value: string | number, width: number): string => String(value).padEnd(width);
const padStart = (value: string | number, width: number): string => String(value).padStart(width);
export const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);
/** `key n, key n, ...`, or `none` when there is nothing. */
const listed = (counts: Record<string, number>, none = ''): string =>
  Object.entries(counts)
    .map(([key, n]) => `${key} ${n}`)
    .join(', ') || none;

/** Counts of `items` by `key`. */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** The HTTP part of the summary: answers by route, the planned 5xx by cause, every 5xx and how it was judged. */
export function httpSummary(records: LoadRecords, faults: readonly FaultRecord[]) {
  const planned5xx: Record<string, number> = {};
  const serverErrors = records.serverErrors.map((error) => {
    const verdict = classify5xx(error, faults);
    if (verdict.planned) planned5xx[verdict.cause.kind] = (planned5xx[verdict.cause.kind] ?? 0) + 1;
    return {
      ...error,
      sentAt: new Date(error.sentAt).toISOString(),
      at: new Date(error.at).toISOString(),
      verdict: verdict.planned ? `planned: ${verdict.cause.kind}` : `violation: ${verdict.reason}`,
    };
  });
  return { requests: records.requests, answers: Object.fromEntries(records.answers), planned5xx, serverErrors };
}

/** The realtime totals over every client. */
export function realtimeTotals(views: ReadonlyMap<string, SocketView>): RunSummary['realtime'] {
  const sum = (of: (view: SocketView) => number): number => [...views.values()].reduce((n, view) => n + of(view), 0);
  return {
    clients: views.size,
    received: sum((view) => view.received),
    duplicates: sum((view) => view.duplicates),
    reconnects: sum((view) => Math.max(0, view.connects - 1)),
    orders: sum((view) => view.orders.size),
  };
}

/** Formats the summary as the table printed at the end of a run. */
export function formatSummary(summary: RunSummary): string {
  const lines: string[] = [];
  const { options } = summary;
  lines.push(
    '',
    `OrderFlow chaos run: seed ${options.seed}, ${options.orders} orders${options.quick ? ' (--quick)' : ''}, ` +
      `${options.workers} workers, ${options.customers} customers, ${summary.durations.total}s ` +
      `(start-up ${summary.durations.startup}s, load ${summary.durations.load}s, quiescence ${summary.durations.quiescence}s` +
      `${summary.quiescent ? '' : ' - ran out'}, checks ${summary.durations.checks}s)`,
    `run dir: ${options.runDir}`,
    '',
    'Orders',
    `  placed ${total(summary.placed)}: ${listed(summary.placed)}`,
  );
  const statuses = ['COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED'];
  const columns = [...statuses, ...Object.keys(summary.finalStatuses).filter((s) => !statuses.includes(s))];
  lines.push(`  ${pad('token', 18)}${pad('placed', 8)}${columns.map((s) => pad(s, 11)).join('')}`);
  const row = (label: string, counts: Record<string, number>): void => {
    lines.push(`  ${pad(label, 18)}${pad(total(counts), 8)}${columns.map((s) => pad(counts[s] ?? 0, 11)).join('')}`);
  };
  for (const token of TOKEN_KINDS) row(token, summary.byToken[token] ?? {});
  row('all orders in db', summary.finalStatuses);
  lines.push(
    `  payments ledger: ${listed(summary.payments, 'empty')}`,
    `  NEEDS_ATTENTION handled by ops: ${summary.ops.episodes} (retryPayment ${summary.ops.retries}, cancel ${summary.ops.cancels}` +
      `${summary.ops.failedSignals > 0 ? `, ${summary.ops.failedSignals} signals resent` : ''})`,
    `  customer cancels: ${listed(summary.cancels, 'none')}; repeated keys: ${summary.repeats.sameBody} same body, ${summary.repeats.otherBody} other body`,
  );

  lines.push('', 'Faults', `  ${pad('fault', 32)}${pad('count', 7)}${pad('failed', 8)}detail (last)`);
  for (const kind of FAULT_KINDS) {
    const records = summary.faults.filter((f) => f.kind === kind);
    const failed = records.filter((f) => f.error !== undefined).length;
    const last = records[records.length - 1];
    lines.push(
      `  ${pad(FAULTS[kind].label, 32)}${pad(records.length, 7)}${pad(failed, 8)}${last?.error ?? last?.detail ?? '-'}`,
    );
  }

  const answers = Object.entries(summary.http.answers).sort(([a], [b]) => a.localeCompare(b));
  const planned = Object.entries(summary.http.planned5xx);
  lines.push(
    '',
    'HTTP',
    `  ${summary.http.requests} requests: ${answers.map(([k, n]) => `${k}: ${n}`).join('; ')}`,
    `  503 + Retry-After inside planned outages, by cause: ${
      planned.length === 0 ? 'none' : planned.map(([k, n]) => `${FAULTS[k as FaultKind].label} ${n}`).join(', ')
    }`,
  );

  const rt = summary.realtime;
  lines.push(
    '',
    `Realtime: ${rt.clients} clients following ${rt.orders} orders, ${rt.received} events received ` +
      `(${rt.duplicates} duplicates dropped by seq), ${rt.reconnects} reconnections`,
  );

  lines.push('', 'Checks', `  ${pad('check', 52)}${padStart('checked', 8)}${padStart('violations', 12)}`);
  for (const check of summary.checks) {
    lines.push(`  ${pad(check.title, 52)}${padStart(check.checked, 8)}${padStart(check.violations.length, 12)}`);
  }
  for (const check of summary.checks.filter((c) => c.violations.length > 0)) {
    lines.push('', `  ${check.name} (${CHECKS[check.name]}):`);
    for (const violation of check.violations.slice(0, 15)) lines.push(`    - ${violation}`);
    if (check.violations.length > 15) lines.push(`    ... and ${check.violations.length - 15} more (summary.json)`);
  }
  lines.push(
    '',
    summary.violations === 0
      ? 'RESULT: PASS - no violations'
      : `RESULT: FAIL - ${summary.violations} violation(s); logs in ${options.runDir}/logs`,
  );
  return lines.join('\n');
}
