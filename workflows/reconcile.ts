/**
 * The reconciliation workflow, started by the `orderflow-reconcile` Temporal Schedule every `RECONCILE_INTERVAL`
 * (temporal-config/reconcile-schedule.ts). An order workflow that is terminated, times out or fails leaves its order
 * wherever it was: stock held, maybe a capture, a non-terminal status that never changes. This run finds such orders
 * (activities/reconcile.ts) and settles each with the saga's own `compensateOrder`: held stock released, every approved
 * payment refunded, a terminal status recorded with the reason (`workflow_terminated`, ...). An order whose stock was
 * already committed is COMPLETED, not compensated (compensateOrder records it). Every step is idempotent (event keys
 * derive from the closed run), so overlapping or repeated runs change nothing twice.
 */
import { ActivityFailure, ApplicationFailure, log, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ACTIVITY_FAILURE_TYPES } from '../activities/contract';
import type { ReconciledOrder } from '../activities/reconcile';

/** The scan describes every unsettled order's workflow, page by page, heartbeating between pages. */
const { findOrdersToReconcile } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Reporting is a log line and a counter; the repair retries until it succeeds, like every compensation. */
const { reportReconciliation, compensateOrder, wakeStaleAttentionRuns } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** What one reconciliation run did. */
export interface ReconcileResult {
  found: number;
  repaired: ReconciledOrder[];
  /** Orders whose run waited in NEEDS_ATTENTION although the order was closed, told to end (absent before the patch). */
  woken?: string[];
}

/** Patch id of the pass's last step, waking stale NEEDS_ATTENTION runs (runs started before it replay without it). */
export const WAKE_STALE_ATTENTION_PATCH = 'wake-stale-attention';

/** One reconciliation pass over the orders whose workflow closed without settling them. */
export async function reconcileWorkflow(): Promise<ReconcileResult> {
  const candidates = await findOrdersToReconcile();
  const repaired: ReconciledOrder[] = [];
  for (const { orderId, reason, status, runId, rowStatus, lastSeq } of candidates) {
    // One key per closed run and unsettled state: a repeated pass over the same state records nothing twice, while a
    // later pass over a new state (a charge that finished after the workflow died) is a repair of its own.
    const eventKeyPrefix = `reconcile/${runId}/${rowStatus}`;
    let settled: Awaited<ReturnType<typeof compensateOrder>>;
    try {
      // Only while nothing was recorded since the scan (`lastSeq` is absent in scans recorded before it existed).
      settled = await compensateOrder({ orderId, eventKeyPrefix, status, reason, ifLastSeq: lastSeq });
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      if (error.cause instanceof ApplicationFailure && error.cause.type === ACTIVITY_FAILURE_TYPES.orderChanged) {
        // Something was recorded since the scan (a run a Reset started, or a step still running for the closed run).
        repaired.push({ orderId, reason, outcome: 'skipped', status: rowStatus });
        log.info('order changed since the scan: left to its run and the next pass', { orderId, reason });
        continue;
      }
      // A repair that fails for good (a non-retryable failure) is reported and left to the next pass; it does not
      // keep the rest of this pass's orders from being repaired.
      const why = error.cause?.message ?? error.message;
      repaired.push({ orderId, reason, outcome: 'failed', status: rowStatus, error: why });
      log.error('order not reconciled', { orderId, reason, error: why });
      continue;
    }
    // COMPLETED: the stock was committed before the workflow ended; compensateOrder recorded COMPLETED, undid nothing.
    const outcome = settled.status === 'COMPLETED' ? 'completed' : 'compensated';
    repaired.push({ orderId, reason, outcome, status: settled.status });
    log.info('order reconciled', { orderId, reason, outcome, released: settled.released, refunded: settled.refunded });
  }
  await reportReconciliation(repaired);
  // Runs left waiting for an operator on a closed order (a Reset past NEEDS_ATTENTION) are told to end.
  const woken = patched(WAKE_STALE_ATTENTION_PATCH) ? await wakeStaleAttentionRuns() : [];
  return { found: candidates.length, repaired, woken };
}
