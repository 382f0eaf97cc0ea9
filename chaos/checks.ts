/**
 * What a chaos run must hold once the system is quiet, checked against the database, what the load and the sockets
 * observed, and the process logs. A violation names the order, request or file; a secret only by its label.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { checkInvariants, formatViolation } from '../lib/invariants';
import type * as rows from '../lib/rows';
import { isTerminal, paymentIdempotencyKey } from '../workflows/definitions';
import { FAULTS, type FaultRecord } from './faults';
import { answerText, rejectedAnswer, requestRoute, type LoadRecords, type ServerErrorRecord } from './load';
import type { SocketView } from './sockets';
import type { Crash, Secret } from './stack';

/** Names of the checks, in the order the summary lists them. */
export const CHECKS = {
  orders_terminal: 'every order terminal (NEEDS_ATTENTION resolved)',
  invariants: 'invariants of docs/design.md (checkInvariants)',
  payments_ledger: 'no double charge (payments ledger vs orders)',
  refunds: 'failed and cancelled orders compensated, refunded',
  idempotency: 'repeated Idempotency-Keys gave the same order',
  http_5xx: 'no 5xx outside outages; 503 + Retry-After inside',
  realtime: 'every client saw its orders to the end',
  processes: 'no process exited on its own',
  secrets_in_logs: 'no token or secret in any process log',
} as const;

/** A check's name. */
export type CheckName = keyof typeof CHECKS;

/** One check's outcome; `checked` is how many things it looked at (orders, requests, files, ...). */
export type CheckResult = { name: CheckName; title: string; checked: number; violations: string[] };

/** Everything the checks look at. */
export interface CheckInput extends Pick<
  LoadRecords,
  'orders' | 'repeats' | 'serverErrors' | 'unexpected' | 'requests'
> {
  db: Knex;
  /** Stock of every catalog SKU before the run. */
  initialStock: ReadonlyMap<string, number>;
  faults: readonly FaultRecord[];
  views: ReadonlyMap<string, SocketView>;
  /** Order workflows Temporal reports running, and in all (undefined: it could not be asked). */
  openWorkflows: number | undefined;
  /** One per order row, or the dev server lost state across its restart. */
  orderWorkflows: number | undefined;
  crashes: readonly Crash[];
}

// The columns the checks read.
type OrderRow = Pick<rows.OrderRow, 'id' | 'status' | 'total_cents' | 'updated_at'>;
type PaymentRow = Pick<rows.PaymentRow, 'id' | 'idempotency_key' | 'order_id' | 'amount_cents' | 'status'>;
type EventRow = Pick<rows.EventRow, 'order_id' | 'seq' | 'status'>;

const iso = (ms: number): string => new Date(ms).toISOString().slice(11, 23);

function result(name: CheckName, checked: number, violations: string[]): CheckResult {
  return { name, title: CHECKS[name], checked, violations };
}

function ordersTerminal(input: CheckInput, orders: Map<string, OrderRow>): CheckResult {
  const violations: string[] = [];
  for (const order of orders.values()) {
    if (!isTerminal(order.status)) {
      violations.push(`order ${order.id} is still ${order.status} (last change ${order.updated_at.toISOString()})`);
    }
  }
  for (const placed of input.orders) {
    if (placed.orderId === undefined || (placed.outcome !== 'accepted' && placed.outcome !== 'rejected')) continue;
    const row = orders.get(placed.orderId);
    if (row === undefined) {
      violations.push(`order ${placed.orderId} was answered ${placed.status} but has no orders row`);
    } else if (placed.outcome === 'accepted' && row.status === 'REJECTED') {
      violations.push(`order ${placed.orderId} was accepted (201, stock held) but ended REJECTED`);
    } else if (placed.outcome === 'rejected' && row.status !== 'REJECTED') {
      violations.push(`order ${placed.orderId} was answered ${placed.status} (rejected) but is ${row.status}`);
    }
  }
  if (input.openWorkflows !== undefined && input.openWorkflows > 0) {
    violations.push(`${input.openWorkflows} order workflow(s) still running in Temporal`);
  }
  if (input.orderWorkflows !== undefined && input.orderWorkflows !== orders.size) {
    violations.push(`Temporal knows ${input.orderWorkflows} order workflows for ${orders.size} orders`);
  }
  return result('orders_terminal', orders.size, violations);
}

/**
 * What lib/invariants.ts does not look at in the payments ledger: a payment of no order or under another key, a charge
 * that is not the order's total, a second charge (a refunded one included), any payment of a REJECTED order.
 */
function paymentsLedger(orders: Map<string, OrderRow>, payments: PaymentRow[]): CheckResult {
  const violations: string[] = [];
  const charged = new Map<string, number>();
  for (const payment of payments) {
    const order = orders.get(payment.order_id);
    if (order === undefined) {
      violations.push(`payment ${payment.id} (${payment.status}) belongs to no order (${payment.order_id})`);
      continue;
    }
    if (payment.idempotency_key !== paymentIdempotencyKey(payment.order_id)) {
      violations.push(`payment ${payment.id} of order ${order.id} is not under the order's key`);
    }
    if (payment.status !== 'declined') {
      charged.set(order.id, (charged.get(order.id) ?? 0) + 1);
      if (Number(payment.amount_cents) !== Number(order.total_cents)) {
        violations.push(
          `order ${order.id} was charged ${payment.amount_cents} for a total of ${order.total_cents} (payment ${payment.id})`,
        );
      }
    }
    if (order.status === 'REJECTED') violations.push(`REJECTED order ${order.id} has payment ${payment.id}`);
  }
  for (const [orderId, count] of charged) {
    if (count > 1) violations.push(`order ${orderId} was charged ${count} times`);
  }
  return result('payments_ledger', payments.length, violations);
}

/** Beyond lib/invariants.ts's `compensated` (nothing held or approved): a PAID, then CANCELLED order was refunded. */
function refunds(orders: Map<string, OrderRow>, payments: PaymentRow[], events: EventRow[]): CheckResult {
  const violations: string[] = [];
  const paid = new Set(events.filter((e) => e.status === 'PAID').map((e) => e.order_id));
  const refunded = new Set(payments.filter((p) => p.status === 'refunded').map((p) => p.order_id));
  const cancelled = [...orders.values()].filter((order) => order.status === 'CANCELLED');
  for (const order of cancelled) {
    if (paid.has(order.id) && !refunded.has(order.id)) {
      violations.push(`CANCELLED order ${order.id} was PAID but has no refunded payment`);
    }
  }
  return result('refunds', cancelled.length, violations);
}

function idempotency(input: CheckInput): CheckResult {
  const violations: string[] = [];
  for (const repeat of input.repeats) {
    const { idempotencyKey: key, orderId, expectedOrderId } = repeat;
    const got = answerText(repeat.status, repeat.error);
    if (repeat.kind === 'same_body') {
      if (repeat.status !== 201 && !rejectedAnswer(repeat)) {
        violations.push(`repeat of key ${key} answered ${got}`);
      } else if (orderId !== expectedOrderId) {
        violations.push(`repeat of key ${key} gave order ${orderId ?? '(none)'}, first answer ${expectedOrderId}`);
      }
    } else if (repeat.status !== 422 || repeat.error !== 'idempotency_key_reused') {
      violations.push(`key ${key} reused with another body answered ${got}, not 422`);
    } else if (orderId !== expectedOrderId) {
      violations.push(`key ${key} reused with another body named order ${orderId ?? '(none)'}`);
    }
  }
  return result('idempotency', input.repeats.length, violations);
}

/** How a 5xx (or unanswered request) is judged: planned (and the fault before it), or why it is a violation. */
export function classify5xx(
  error: ServerErrorRecord,
  faults: readonly FaultRecord[],
): { planned: true; cause: FaultRecord } | { planned: false; reason: string } {
  // The faults that excuse it: it overlapped the fault's window, and the fault can fail that request.
  const route = requestRoute(error.method, error.path);
  const during = faults.filter((fault) => {
    const { excuse } = FAULTS[fault.kind];
    if (excuse === undefined || !excuse.requests.includes(route)) return false;
    return error.sentAt <= fault.end + excuse.graceMs && error.at >= fault.start;
  });
  if (during.length === 0) return { planned: false, reason: 'outside every planned outage that can fail it' };
  if (error.status !== 503 || error.retryAfter === undefined) {
    const kinds = [...new Set(during.map((fault) => fault.kind))].join(', ');
    return { planned: false, reason: `during ${kinds}, but not a 503 with Retry-After` };
  }
  // The cause: the latest fault already under way when the request was sent, else the latest one overlapping it.
  const before = during.filter((fault) => fault.start <= error.sentAt);
  const candidates = before.length > 0 ? before : during;
  return { planned: true, cause: candidates.reduce((latest, fault) => (fault.start > latest.start ? fault : latest)) };
}

function serverErrors(input: CheckInput): CheckResult {
  const violations: string[] = [];
  for (const error of input.serverErrors) {
    const verdict = classify5xx(error, input.faults);
    if (verdict.planned) continue;
    const answer = answerText(error.status === 0 ? 'no answer' : error.status, error.error);
    const request = `${error.method} ${error.path} -> ${answer} at ${iso(error.at)} (sent ${iso(error.sentAt)})`;
    violations.push(`${request}: ${verdict.reason}`);
  }
  for (const { method, path, status, error, at } of input.unexpected) {
    const answer = answerText(status, error);
    violations.push(`${method} ${path} -> ${answer} at ${iso(at)}: not an answer the API contract allows here`);
  }
  return result('http_5xx', input.requests, violations);
}

function realtime(input: CheckInput, orders: Map<string, OrderRow>, events: EventRow[]): CheckResult {
  const violations: string[] = [];
  const byOrder = new Map<string, EventRow[]>();
  for (const event of events) {
    const stored = byOrder.get(event.order_id);
    if (stored === undefined) byOrder.set(event.order_id, [event]);
    else stored.push(event);
  }
  let checked = 0;
  for (const view of input.views.values()) {
    for (const failure of view.catchUpFailures)
      violations.push(`${view.customerId}: catch-up subscribe failed for ${failure}`);
    const problem = (text: string) => violations.push(`${view.customerId} ${text}`);
    for (const [orderId, seen] of view.orders) {
      checked += 1;
      const order = orders.get(orderId);
      const stored = byOrder.get(orderId) ?? [];
      if (order === undefined) continue; // reported by orders_terminal
      const missing = stored.filter((event) => !seen.has(event.seq));
      const terminal = stored.find((event) => event.status === order.status && isTerminal(event.status));
      if (terminal !== undefined && !seen.has(terminal.seq)) {
        problem(`never saw order ${orderId} reach ${order.status} (seq ${terminal.seq})`);
      } else if (missing.length > 0) {
        problem(`missed seq ${missing.map((event) => `${event.seq} ${event.status}`).join(', ')} of order ${orderId}`);
      }
      for (const event of stored) {
        const status = seen.get(event.seq);
        if (status !== undefined && status !== event.status) {
          problem(`got seq ${event.seq} of order ${orderId} as ${status}, stored ${event.status}`);
        }
      }
      for (const seq of seen.keys()) {
        if (!stored.some((event) => event.seq === seq))
          problem(`got seq ${seq} of order ${orderId}, which was never stored`);
      }
    }
  }
  return result('realtime', checked, violations);
}

/** Looks for every secret in every file of `logDir`; a hit names the secret's label and the file, never the value. */
export function scanLogs(logDir: string, secrets: readonly Secret[]): CheckResult {
  const violations: string[] = [];
  const files = readdirSync(logDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const secret of secrets) {
      if (secret.value.length === 0 || !text.includes(secret.value)) continue;
      const line = text.slice(0, text.indexOf(secret.value)).split('\n').length;
      violations.push(`${secret.label} found in ${path.relative(logDir, file)} line ${line}`);
    }
  }
  return result('secrets_in_logs', files.length, violations);
}

function processes(input: CheckInput): CheckResult {
  const violations = input.crashes.map(
    (crash) =>
      `${crash.name} exited on its own (${crash.how}) at ${iso(crash.at)}: ${crash.tail.split('\n').slice(-3).join(' | ')}`,
  );
  return result('processes', input.crashes.length, violations);
}

/** Runs every check but the log scan: `scanLogs` runs once every process has stopped, so their last lines count. */
export async function runChecks(input: CheckInput): Promise<CheckResult[]> {
  const { db } = input;
  const orderRows = await db(TABLES.orders).select<OrderRow[]>('id', 'status', 'total_cents', 'updated_at');
  const orders = new Map(orderRows.map((row) => [row.id, row]));
  const payments = await db(TABLES.payments)
    .select<PaymentRow[]>('id', 'idempotency_key', 'order_id', 'amount_cents', 'status')
    .orderBy('id');
  const events = await db(TABLES.orderEvents)
    .select<EventRow[]>('order_id', 'seq', 'status')
    .orderBy(['order_id', 'seq']);
  // Every order of the database, not only those holding catalog stock (the SKU scope's default).
  const invariants = await checkInvariants(db, { initialStock: input.initialStock, orderIds: [...orders.keys()] });

  return [
    ordersTerminal(input, orders),
    result('invariants', orders.size + input.initialStock.size, invariants.map(formatViolation)),
    paymentsLedger(orders, payments),
    refunds(orders, payments, events),
    idempotency(input),
    serverErrors(input),
    realtime(input, orders, events),
    processes(input),
  ];
}
