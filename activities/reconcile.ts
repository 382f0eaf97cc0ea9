/**
 * Activities of the reconciliation workflow (workflows/reconcile.ts), run by the `orderflow-reconcile` Temporal
 * Schedule: finding orders whose workflow closed without leaving the books settled, and reporting what was repaired.
 * The repair itself is the saga's own `compensateOrder` (release held stock, refund every approved payment, record
 * the terminal status), so a reconciled order ends exactly as a cancelled one does.
 */
import { heartbeat, metricMeter } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import type { Logger } from '../lib/logger';
import {
  retryPaymentSignal,
  SEARCH_ATTRIBUTES,
  TERMINAL_STATUSES,
  WORKFLOW_TYPE,
  type OrderStatus,
} from '../workflows/definitions';
import { ACTIVITY_FAILURE_TYPES } from './contract';

const { WorkflowExecutionStatus } = temporal.api.enums.v1;

/** Counter of repaired orders on the worker's metrics endpoint, labelled `reason` and `outcome`. */
export const RECONCILED_ORDERS_METRIC = 'orderflow_reconciled_orders';

/** Most orders one reconciliation run repairs (the next run takes the rest), and the page size of its scan. */
export const RECONCILE_BATCH = 200;

/** Why an order is reconciled: how its workflow ended (the reason recorded with the terminal status). */
export const RECONCILE_REASONS = {
  terminated: 'workflow_terminated',
  timedOut: 'workflow_timed_out',
  failed: 'workflow_failed',
  canceled: 'workflow_canceled',
  closed: 'workflow_closed',
  notFound: 'workflow_not_found',
} as const;

/** A reconciliation reason. */
export type ReconcileReason = (typeof RECONCILE_REASONS)[keyof typeof RECONCILE_REASONS];

/** An order whose workflow is closed while the books are not settled. */
export interface ReconcileCandidate {
  orderId: string;
  /** The `orders` row status when found. */
  rowStatus: OrderStatus;
  /** The terminal status to record: FAILED for an order already FAILED, else CANCELLED. */
  status: 'CANCELLED' | 'FAILED';
  reason: ReconcileReason;
  /** The closed run's id ('' when the workflow is gone): the event keys of its repair derive from it. */
  runId: string;
  /**
   * The order's newest event seq, read before its workflow was seen closed: the repair is made only while it still
   * is (`compensateOrder`'s `ifLastSeq`), so a run a Reset started meanwhile keeps its order.
   */
  lastSeq: number;
  /** What is unsettled, for the log. */
  unsettled: { nonTerminal: boolean; held: boolean; approved: boolean };
}

/** One repaired order, as `reportReconciliation` logs and counts it. */
export interface ReconciledOrder {
  orderId: string;
  reason: ReconcileReason;
  /**
   * `compensated`: stock released, payments refunded, status recorded; `completed`: the stock was committed;
   * `failed`: the repair failed for good this pass (`error` says why) and the next pass tries again; `skipped`: the
   * order changed since the scan (a run a Reset started, or a step still running for the closed run, recorded
   * something), so nothing was done and the next pass looks again.
   */
  outcome: 'compensated' | 'completed' | 'failed' | 'skipped';
  /** The status the order ended with (for `failed`, the status it still has). */
  status: OrderStatus;
  /** Why the repair failed (`failed` only). */
  error?: string;
}

/** What the reconciliation activities need. */
export interface ReconcileDeps {
  db: Knex;
  /** Describes order workflows; without it nothing is reconciled (a worker built without a client). */
  temporal: Client | undefined;
  logger: Logger;
  /** Orders read per page of the scan. @default RECONCILE_BATCH */
  pageSize?: number;
}

/** The reason of a closed workflow's close status; undefined while it runs. */
function closeReason(
  status: temporal.api.enums.v1.WorkflowExecutionStatus | null | undefined,
): ReconcileReason | undefined {
  switch (status) {
    case WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
      return undefined;
    case WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED:
      return RECONCILE_REASONS.terminated;
    case WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
      return RECONCILE_REASONS.timedOut;
    case WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED:
      return RECONCILE_REASONS.failed;
    case WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED:
      return RECONCILE_REASONS.canceled;
    default:
      return RECONCILE_REASONS.closed;
  }
}

/** gRPC NOT_FOUND: the workflow does not exist (any more). */
function notFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 5;
}

interface UnsettledRow {
  id: string;
  status: OrderStatus;
  workflow_id: string;
  held: boolean;
  approved: boolean;
  last_seq: number | null;
}

/** Builds the reconciliation activities. */
export function createReconcileActivities({ db, temporal: client, logger, pageSize = RECONCILE_BATCH }: ReconcileDeps) {
  /** How the order's workflow ended, or undefined while it runs. */
  async function closedBecause(workflowId: string): Promise<{ reason: ReconcileReason; runId: string } | undefined> {
    if (client === undefined) return undefined;
    try {
      const described = await client.workflowService.describeWorkflowExecution({
        namespace: client.options.namespace,
        execution: { workflowId },
      });
      const reason = closeReason(described.workflowExecutionInfo?.status);
      const runId = described.workflowExecutionInfo?.execution?.runId ?? '';
      return reason === undefined ? undefined : { reason, runId };
    } catch (error) {
      if (!notFound(error)) throw error;
      return { reason: RECONCILE_REASONS.notFound, runId: '' };
    }
  }

  /**
   * Orders that are not settled (a non-terminal status; stock held at a terminal status; an approved payment of an
   * order that is not COMPLETED) whose workflow is closed (terminated, timed out, failed, ...) or gone. A running
   * workflow is left alone: it settles its order itself. Scans every unsettled order in pages (oldest first, so many
   * long-running orders never hide a closed one behind them), one DescribeWorkflowExecution each, until
   * RECONCILE_BATCH candidates are found.
   */
  async function findOrdersToReconcile(): Promise<ReconcileCandidate[]> {
    if (client === undefined) {
      logger.warn('reconciliation skipped: the worker has no Temporal client');
      return [];
    }
    const candidates: ReconcileCandidate[] = [];
    // The cursor keeps created_at as PostgreSQL's text: a JS Date drops the microseconds, and a page would repeat.
    let after: { createdAt: string; id: string } | undefined;
    for (;;) {
      const { rows } = await db.raw<{ rows: (UnsettledRow & { created_at: string })[] }>(
        `SELECT o.id, o.status, o.workflow_id, o.created_at::text AS created_at,
                EXISTS (SELECT 1 FROM ${TABLES.stockReservations} r WHERE r.order_id = o.id AND r.status = 'held') AS held,
                EXISTS (SELECT 1 FROM ${TABLES.payments} p WHERE p.order_id = o.id AND p.status = 'approved') AS approved,
                (SELECT max(e.seq) FROM ${TABLES.orderEvents} e WHERE e.order_id = o.id) AS last_seq
           FROM ${TABLES.orders} o
          WHERE (o.status <> ALL(?::text[])
                 OR (o.status <> 'COMPLETED' AND EXISTS (
                       SELECT 1 FROM ${TABLES.payments} p WHERE p.order_id = o.id AND p.status = 'approved'))
                 OR EXISTS (SELECT 1 FROM ${TABLES.stockReservations} r WHERE r.order_id = o.id AND r.status = 'held'
                              AND o.status = ANY(?::text[])))
            AND (?::timestamptz IS NULL OR (o.created_at, o.id) > (?::timestamptz, ?::uuid))
          ORDER BY o.created_at, o.id
          LIMIT ?`,
        [
          [...TERMINAL_STATUSES],
          [...TERMINAL_STATUSES],
          after?.createdAt ?? null,
          after?.createdAt ?? null,
          after?.id ?? null,
          pageSize,
        ],
      );
      for (const row of rows) {
        const closed = await closedBecause(row.workflow_id);
        if (closed === undefined) continue;
        candidates.push({
          orderId: row.id,
          rowStatus: row.status,
          status: row.status === 'FAILED' ? 'FAILED' : 'CANCELLED',
          ...closed,
          lastSeq: Number(row.last_seq ?? 0),
          unsettled: { nonTerminal: !TERMINAL_STATUSES.includes(row.status), held: row.held, approved: row.approved },
        });
        logger.info('order to reconcile', { orderId: row.id, status: row.status, ...closed, held: row.held });
        if (candidates.length >= RECONCILE_BATCH) return candidates;
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < pageSize) return candidates;
      after = { createdAt: last.created_at, id: last.id };
      heartbeat();
    }
  }

  /** Logs and counts what one reconciliation run repaired. */
  function reportReconciliation(repaired: ReconciledOrder[]): Promise<void> {
    if (!Array.isArray(repaired)) {
      throw ApplicationFailure.create({
        message: 'reportReconciliation takes the list of repaired orders',
        type: ACTIVITY_FAILURE_TYPES.invalidInput,
        nonRetryable: true,
      });
    }
    if (repaired.length === 0) return Promise.resolve();
    // The activity's meter: the worker's Prometheus endpoint (METRICS_PORT), tagged with namespace and task queue.
    const reconciled = metricMeter.createCounter(
      RECONCILED_ORDERS_METRIC,
      'orders',
      'Orders repaired by the reconciliation schedule, by reason and outcome',
    );
    for (const order of repaired) {
      reconciled.add(1, { reason: order.reason, outcome: order.outcome });
      if (order.outcome === 'failed') logger.error('order not reconciled', { ...order });
      else if (order.outcome === 'skipped')
        logger.info('order changed since the scan: left to its run and the next pass', { ...order });
      else logger.info('order reconciled', { ...order });
    }
    logger.info('reconciliation run done', { repaired: repaired.length });
    return Promise.resolve();
  }

  /**
   * Wakes order runs that wait in NEEDS_ATTENTION (their `OrderStatus` search attribute) on an order that is closed:
   * a run reset past its NEEDS_ATTENTION onto an order cancelled, failed or completed since would otherwise wait for
   * an operator who can do nothing (the API answers a retry with 409 and sends no cancel to a closed order) until
   * ATTENTION_TIMEOUT, showing NEEDS_ATTENTION against a terminal row. Each such run gets `retryPayment`: its charge
   * meets the closed order (OF003), charges nothing, and the run ends with the recorded status, recording nothing
   * (`closedAs`, activities/saga-steps.ts). Only runs of the lean saga (whose NEEDS_ATTENTION is recorded under an
   * event key): a run of the shape before it would record CHARGING again on a retry. A run that is not waiting
   * ignores the signal. Best effort: the repairs of the pass come first, so a failing visibility query or signal is
   * logged and the next pass tries again. Returns the order ids woken, at most RECONCILE_BATCH, scanning the
   * waiting runs page by page.
   */
  async function wakeStaleAttentionRuns(): Promise<string[]> {
    if (client === undefined) return [];
    const query =
      `WorkflowType = '${WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' ` +
      `AND ${SEARCH_ATTRIBUTES.orderStatus.name} = 'NEEDS_ATTENTION'`;
    const woken: string[] = [];
    let page: string[] = [];
    const wakeClosed = async (): Promise<void> => {
      const closed = await db(`${TABLES.orders} as o`)
        .whereIn('o.workflow_id', page)
        .whereIn('o.status', [...TERMINAL_STATUSES])
        .whereExists(
          db(`${TABLES.orderEvents} as e`)
            .whereRaw('e.order_id = o.id')
            .where('e.status', 'NEEDS_ATTENTION')
            .whereNotNull('e.event_key'),
        )
        .select<{ id: string; workflow_id: string; status: OrderStatus }[]>('o.id', 'o.workflow_id', 'o.status');
      page = [];
      for (const row of closed) {
        if (woken.length >= RECONCILE_BATCH) return;
        try {
          await client.workflow.getHandle(row.workflow_id).signal(retryPaymentSignal);
        } catch (error) {
          logger.warn('stale NEEDS_ATTENTION run not woken', { orderId: row.id, err: error });
          continue;
        }
        logger.warn('stale NEEDS_ATTENTION run woken: its order is closed', { orderId: row.id, status: row.status });
        woken.push(row.id);
      }
    };
    try {
      for await (const execution of client.workflow.list({ query, pageSize: RECONCILE_BATCH })) {
        page.push(execution.workflowId);
        if (page.length >= RECONCILE_BATCH) await wakeClosed();
        if (woken.length >= RECONCILE_BATCH) break;
      }
      if (page.length > 0) await wakeClosed();
    } catch (error) {
      logger.warn('stale NEEDS_ATTENTION runs not scanned', { err: error });
    }
    return woken;
  }

  return { findOrdersToReconcile, reportReconciliation, wakeStaleAttentionRuns };
}
