/**
 * What a chaos run prints: a progress line every few seconds while it runs, and at the end the summary (orders by
 * token and final status, faults injected, HTTP answers, realtime, and the checks with their violations), also
 * written as `summary.json` in the run directory.
 */
import { TERMINAL_STATUSES } from '../workflows/definitions';
import { CHECKS, classify5xx, type CheckResult } from './checks';
import { FAULT_KINDS, FAULTS, type FaultKind, type FaultRecord } from './faults';
import { TOKEN_WEIGHTS, type LoadRecords, type ServerErrorRecord, type TokenKind } from './load';
import type { OpsRecords } from './ops';
import type { ChaosOptions } from './options';
import type { SocketView } from './sockets';

/** Everything the summary is made of. */
export interface RunSummary {
  options: Pick<ChaosOptions, 'orders' | 'seconds' | 'workers' | 'customers' | 'seed' | 'quick' | 'runDir'>;
  services: Record<string, string>;
  startedAt: string;
  /** Seconds: start-up, load, quiescence, checks, total. */
  durations: Record<'startup' | 'load' | 'quiescence' | 'checks' | 'total', number>;
  /** False when the quiescence wait ran out. */
  quiescent: boolean;
  /** Final status of every order in the database. */
  finalStatuses: Record<string, number>;
  /** Ledger rows by status (approved, declined, refunded). */
  payments: Record<string, number>;
  /** Orders the load placed, by token kind and final status. */
  byToken: Record<string, Record<string, number>>;
  placed: Record<string, number>;
  faults: FaultRecord[];
  ops: OpsRecords;
  http: {
    requests: number;
    answers: Record<string, number>;
    planned5xx: Record<string, number>;
    serverErrors: (Omit<ServerErrorRecord, 'sentAt' | 'at'> & { sentAt: string; at: string; verdict: string })[];
  };
  cancels: Record<string, number>;
  repeats: { sameBody: number; otherBody: number };
  realtime: { clients: number; received: number; duplicates: number; reconnects: number; orders: number };
  checks: CheckResult[];
  violations: number;
}

const pad = (value: string | number, width: number): string => String(value).padEnd(width);
const padStart = (value: string | number, width: number): string => String(value).padStart(width);
const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);
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

/** The planned 5xx by the fault they are put down to (`classify5xx`). */
export function planned5xx(records: LoadRecords, faults: readonly FaultRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const error of records.serverErrors) {
    const verdict = classify5xx(error, faults);
    if (verdict.planned) out[verdict.cause.kind] = (out[verdict.cause.kind] ?? 0) + 1;
  }
  return out;
}

/** Every 5xx (and unanswered request) with its time and how it was judged, for summary.json. */
export function serverErrorLog(
  records: LoadRecords,
  faults: readonly FaultRecord[],
): RunSummary['http']['serverErrors'] {
  return records.serverErrors.map((error) => {
    const verdict = classify5xx(error, faults);
    return {
      ...error,
      sentAt: new Date(error.sentAt).toISOString(),
      at: new Date(error.at).toISOString(),
      verdict: verdict.planned ? `planned: ${verdict.cause.kind}` : `violation: ${verdict.reason}`,
    };
  });
}

/** The realtime totals over every client. */
export function realtimeTotals(views: ReadonlyMap<string, SocketView>): RunSummary['realtime'] {
  let received = 0;
  let duplicates = 0;
  let reconnects = 0;
  let orders = 0;
  for (const view of views.values()) {
    received += view.received;
    duplicates += view.duplicates;
    reconnects += Math.max(0, view.connects - 1);
    orders += view.orders.size;
  }
  return { clients: views.size, received, duplicates, reconnects, orders };
}

/** Formats the summary as the table printed at the end of a run. */
export function formatSummary(summary: RunSummary): string {
  const lines: string[] = [];
  const { options } = summary;
  lines.push('');
  lines.push(
    `OrderFlow chaos run: seed ${options.seed}, ${options.orders} orders${options.quick ? ' (--quick)' : ''}, ` +
      `${options.workers} workers, ${options.customers} customers, ${summary.durations.total}s ` +
      `(start-up ${summary.durations.startup}s, load ${summary.durations.load}s, quiescence ${summary.durations.quiescence}s` +
      `${summary.quiescent ? '' : ' - ran out'}, checks ${summary.durations.checks}s)`,
  );
  lines.push(`run dir: ${options.runDir}`);

  lines.push('');
  lines.push('Orders');
  lines.push(`  placed ${total(summary.placed)}: ${listed(summary.placed)}`);
  const statuses = ['COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED'];
  const columns = [...statuses, ...Object.keys(summary.finalStatuses).filter((s) => !statuses.includes(s))];
  lines.push(`  ${pad('token', 18)}${pad('placed', 8)}${columns.map((s) => pad(s, 11)).join('')}`);
  const row = (label: string, counts: Record<string, number>): void => {
    lines.push(`  ${pad(label, 18)}${pad(total(counts), 8)}${columns.map((s) => pad(counts[s] ?? 0, 11)).join('')}`);
  };
  for (const token of Object.keys(TOKEN_WEIGHTS) as TokenKind[]) {
    row(token, summary.byToken[token] ?? {});
  }
  row('all orders in db', summary.finalStatuses);
  lines.push(`  payments ledger: ${listed(summary.payments, 'empty')}`);
  lines.push(
    `  NEEDS_ATTENTION handled by ops: ${summary.ops.episodes} (retryPayment ${summary.ops.retries}, cancel ${summary.ops.cancels}` +
      `${summary.ops.failedSignals > 0 ? `, ${summary.ops.failedSignals} signals resent` : ''})`,
  );
  lines.push(
    `  customer cancels: ${listed(summary.cancels, 'none')}; repeated keys: ${summary.repeats.sameBody} same body, ${summary.repeats.otherBody} other body`,
  );

  lines.push('');
  lines.push('Faults');
  lines.push(`  ${pad('fault', 32)}${pad('count', 7)}${pad('failed', 8)}detail (last)`);
  for (const kind of FAULT_KINDS) {
    const records = summary.faults.filter((f) => f.kind === kind);
    const failed = records.filter((f) => f.error !== undefined).length;
    const last = records[records.length - 1];
    lines.push(
      `  ${pad(FAULTS[kind].label, 32)}${pad(records.length, 7)}${pad(failed, 8)}${last?.error ?? last?.detail ?? '-'}`,
    );
  }

  lines.push('');
  lines.push('HTTP');
  const answers = Object.entries(summary.http.answers).sort(([a], [b]) => a.localeCompare(b));
  lines.push(`  ${summary.http.requests} requests: ${answers.map(([k, n]) => `${k}: ${n}`).join('; ')}`);
  const planned = Object.entries(summary.http.planned5xx);
  lines.push(
    `  503 + Retry-After inside planned outages, by cause: ${
      planned.length === 0 ? 'none' : planned.map(([k, n]) => `${FAULTS[k as FaultKind].label} ${n}`).join(', ')
    }`,
  );

  lines.push('');
  const rt = summary.realtime;
  lines.push(
    `Realtime: ${rt.clients} clients following ${rt.orders} orders, ${rt.received} events received ` +
      `(${rt.duplicates} duplicates dropped by seq), ${rt.reconnects} reconnections`,
  );

  lines.push('');
  lines.push('Checks');
  lines.push(`  ${pad('check', 52)}${padStart('checked', 8)}${padStart('violations', 12)}`);
  for (const check of summary.checks) {
    lines.push(`  ${pad(check.title, 52)}${padStart(check.checked, 8)}${padStart(check.violations.length, 12)}`);
  }
  for (const check of summary.checks.filter((c) => c.violations.length > 0)) {
    lines.push('');
    lines.push(`  ${check.name} (${CHECKS[check.name]}):`);
    for (const violation of check.violations.slice(0, 15)) lines.push(`    - ${violation}`);
    if (check.violations.length > 15) lines.push(`    ... and ${check.violations.length - 15} more (summary.json)`);
  }
  lines.push('');
  lines.push(
    summary.violations === 0
      ? 'RESULT: PASS - no violations'
      : `RESULT: FAIL - ${summary.violations} violation(s); logs in ${options.runDir}/logs`,
  );
  return lines.join('\n');
}

/** The state the progress line reports. */
export interface ProgressState {
  phase: string;
  records: LoadRecords;
  ordersTarget: number;
  statuses: () => Promise<Record<string, number>>;
  faultsDone: () => number;
  faultsPlanned: number;
  sockets: () => number;
  customers: number;
}

/** Prints a progress line every `everyMs` until stopped. */
export function startProgress(state: ProgressState, log: (line: string) => void, everyMs = 5000): { stop(): void } {
  const started = Date.now();
  const timer = setInterval(() => {
    void (async () => {
      const { records } = state;
      const placed = countBy(records.orders, (o) => o.outcome);
      let db = 'db ?';
      try {
        const statuses = await state.statuses();
        const terminal = TERMINAL_STATUSES.reduce((n, s) => n + (statuses[s] ?? 0), 0);
        db = `db terminal ${terminal}/${total(statuses)}, NEEDS_ATTENTION ${statuses.NEEDS_ATTENTION ?? 0}`;
      } catch {
        // the harness pool is never cut, but the server may be busy; the next line will tell
      }
      log(
        `[chaos ${padStart(Math.round((Date.now() - started) / 1000), 4)}s ${state.phase}] ` +
          `orders ${records.orders.length}/${state.ordersTarget} (accepted ${placed.accepted ?? 0}, rejected ${placed.rejected ?? 0}), ` +
          `in flight ${records.inFlight} | ${db} | faults ${state.faultsDone()}/${state.faultsPlanned} | ` +
          `5xx ${records.serverErrors.length} | sockets ${state.sockets()}/${state.customers}`,
      );
    })();
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}
