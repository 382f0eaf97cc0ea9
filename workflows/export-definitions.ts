/**
 * The contract of order exports: workflow type and id, input and result, and the page activity's input and result.
 * Imported by the export workflow, its activities, the API and the tests; no name here is spelled out elsewhere.
 */
import type { OrderStatus } from './definitions';

/** Workflow type name (the exported function in `workflows/export.ts`). */
export const EXPORT_WORKFLOW_TYPE = 'exportWorkflow';

/** Workflow id of an export: one workflow per export. */
export function exportWorkflowIdFor(exportId: string): string {
  return `export-${exportId}`;
}

/** Orders per CSV page (each page is one activity and one file). */
export const DEFAULT_EXPORT_PAGE_SIZE = 1000;

/** Which orders an export contains; `from` inclusive, `to` exclusive (ISO-8601, on the order's creation time). */
export interface ExportFilters {
  status?: OrderStatus;
  customerId?: string;
  from?: string;
  to?: string;
}

/** A keyset position in the export's order (created_at, id ascending): after this order. */
export interface ExportCursor {
  /** The order's created_at, UTC with microseconds (`2026-11-30T04:00:00.123456Z`). */
  createdAt: string;
  orderId: string;
}

/** Input of `exportWorkflow`; the filters and cutoff are read from the `exports` row. */
export interface ExportWorkflowInput {
  exportId: string;
  /** @default DEFAULT_EXPORT_PAGE_SIZE */
  pageSize?: number;
  /** Start-to-close timeout of one page: how soon a page lost with its worker is written again. @default 60000 */
  pageTimeoutMs?: number;
  /** Where a continued-as-new run picks up. */
  resume?: { page: number; after: ExportCursor | null };
}

/** Final result of `exportWorkflow` (a cancelled export ends normally with `cancelled`). */
export interface ExportWorkflowResult {
  exportId: string;
  status: 'completed' | 'cancelled';
  rows: number;
  pages: number;
}

/** Input of the `writeExportPage` activity. */
export interface ExportPageInput {
  exportId: string;
  /** 1-based page number: the key that makes the write idempotent. */
  page: number;
  after: ExportCursor | null;
  pageSize: number;
}

/** Result of `writeExportPage` (the same on every retry of one page). */
export interface ExportPageResult {
  page: number;
  /** Orders and CSV rows in this page. */
  orders: number;
  rows: number;
  /** Position after the page's last order; null for an empty page. */
  last: ExportCursor | null;
  /** True when this page held fewer orders than a full page: the export is complete. */
  done: boolean;
}

/** Input of `finishExport`. */
export interface FinishExportInput {
  exportId: string;
  status: 'completed' | 'failed' | 'cancelled';
  error?: string;
}

/** Application failure type when the export's row is missing (nothing to write into; not retryable). */
export const EXPORT_NOT_FOUND_FAILURE = 'ExportNotFound';

/**
 * `patched()` id of ending an export cancelled when the step in flight failed after the workflow's cancel (before
 * it, such an export ended failed).
 */
export const EXPORT_CANCEL_CONSIDERED_PATCH = 'export-cancel-considered';
