/**
 * The export workflow: writes the orders matching an export's filters as CSV pages, one activity per page, each
 * keyed by its page number so a retried or resumed page is found rather than written twice. Cancelling it (Temporal
 * UI or client) lets the page in flight finish, writes no further page, and records the export as cancelled. Long
 * exports continue as new, carrying the page number and keyset position.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { ExportActivities } from '../activities/exports';
import {
  DEFAULT_EXPORT_PAGE_SIZE,
  EXPORT_CANCEL_CONSIDERED_PATCH,
  EXPORT_NOT_FOUND_FAILURE,
  type ExportCursor,
  type ExportWorkflowInput,
  type ExportWorkflowResult,
} from './export-definitions';

/** Default start-to-close timeout of one page. */
const DEFAULT_PAGE_TIMEOUT_MS = 60_000;

/** Exports one `exports` row's orders to CSV pages and records the outcome. */
export async function exportWorkflow(input: ExportWorkflowInput): Promise<ExportWorkflowResult> {
  const { exportId } = input;
  const pageSize = input.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE;
  const pageTimeoutMs = input.pageTimeoutMs ?? DEFAULT_PAGE_TIMEOUT_MS;
  // Every step retries until it succeeds (the database or disk may be briefly away), except a missing export.
  // A cancel waits for the page in flight: its file and row are written whole, never half.
  const { prepareExport, writeExportPage, finishExport } = proxyActivities<ExportActivities>({
    startToCloseTimeout: pageTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '500ms',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      nonRetryableErrorTypes: [EXPORT_NOT_FOUND_FAILURE],
    },
  });

  let page = input.resume?.page ?? 1;
  let after: ExportCursor | null = input.resume?.after ?? null;
  try {
    if (input.resume === undefined) await prepareExport({ exportId });
    for (;;) {
      const written = await writeExportPage({ exportId, page, after, pageSize });
      if (written.done) break;
      after = written.last;
      page += 1;
      if (workflowInfo().continueAsNewSuggested) {
        return await continueAsNew<typeof exportWorkflow>({
          exportId,
          pageSize,
          pageTimeoutMs,
          resume: { page, after },
        });
      }
    }
    const done = await finishExport({ exportId, status: 'completed' });
    return { exportId, status: 'completed', rows: done.rows, pages: done.pages };
  } catch (error) {
    if (error instanceof ContinueAsNew) throw error;
    // A cancel waits for the step in flight (WAIT_CANCELLATION_COMPLETED); a step that then fails of its own accord
    // (prepareExport giving up an attempt on an open transaction) surfaces as its failure, yet the export was
    // cancelled: the workflow's scope says so. Exports that ended failed so before the patch replay as they ran.
    const cancelled =
      isCancellation(error) ||
      (CancellationScope.current().consideredCancelled && patched(EXPORT_CANCEL_CONSIDERED_PATCH));
    if (cancelled) {
      const done = await CancellationScope.nonCancellable(() => finishExport({ exportId, status: 'cancelled' }));
      return { exportId, status: 'cancelled', rows: done.rows, pages: done.pages };
    }
    // An activity's own failure, not the SDK's wrapper ("Activity task failed"), is what the export row should say.
    const cause = error instanceof ActivityFailure ? error.cause : error;
    const message = cause instanceof Error ? cause.message : String(cause);
    await CancellationScope.nonCancellable(() => finishExport({ exportId, status: 'failed', error: message }));
    throw ApplicationFailure.create({ message: `export ${exportId} failed: ${message}`, nonRetryable: true });
  }
}
