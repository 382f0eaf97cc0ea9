/**
 * Order exports (admin): POST /exports records the operation and starts its Temporal workflow (202 `{ exportId }`),
 * GET /exports/:id shows its status and progress, GET /exports/:id/download streams the CSV (header, then the pages
 * in order) once it has completed.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { RouterMiddleware } from '@koa/router';
import type { Knex } from 'knex';
import { TABLES } from '../../lib/db';
import { EXPORT_HEADER, exportDirectory } from '../../lib/export-files';
import type { ExportStatus } from '../../lib/events';
import {
  EXPORT_WORKFLOW_TYPE,
  exportWorkflowIdFor,
  type ExportWorkflowInput,
} from '../../workflows/export-definitions';
import type { AuthState } from '../auth';
import { readJsonBody } from '../../lib/http/body';
import { temporalCallOptions, type RouteDeps } from '../deps';
import { ApiError } from '../../lib/http/errors';
import { callTemporal } from '../../lib/order-workflow';
import type { ExportView } from '../schemas';
import { createExportBodySchema, exportIdSchema, type ExportDownloadQuery } from '../validation';
import type { QueryState } from '../../lib/http/query';
import { parseOrThrow } from '../../lib/http/validate';

/** The byte order mark U+FEFF, written as UTF-8 (EF BB BF). */
const UTF8_BOM = '\uFEFF';

interface ExportRow {
  id: string;
  requested_by: string;
  format: 'csv';
  filters: Record<string, unknown>;
  status: ExportStatus;
  orders_total: number | null;
  orders_done: number;
  rows: number;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

function exportNotFound(id: string): ApiError {
  return new ApiError('not_found', `export ${id.slice(0, 64)} not found`);
}

async function findExport(db: Knex, rawId: string | undefined): Promise<ExportRow> {
  const id = rawId ?? '';
  if (!exportIdSchema.safeParse(id).success) throw exportNotFound(id);
  const row = await db(TABLES.exports).where({ id: id.toLowerCase() }).first<ExportRow | undefined>();
  if (row === undefined) throw exportNotFound(id);
  return row;
}

function viewOf(row: ExportRow): ExportView {
  const progress =
    row.status === 'completed'
      ? 1
      : row.orders_total === null || row.orders_total === 0
        ? 0
        : Math.min(1, row.orders_done / row.orders_total);
  return {
    exportId: row.id,
    status: row.status,
    format: row.format,
    filters: row.filters,
    rows: row.rows,
    progress,
    requestedBy: row.requested_by,
    failureReason: row.error,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    completedAt: row.completed_at?.toISOString() ?? null,
  };
}

/** Handler of POST /exports. */
export function postExport(deps: RouteDeps): RouterMiddleware<AuthState> {
  const { db, temporal, config, options } = deps;
  const call = temporalCallOptions(options);
  return async (ctx) => {
    const body = parseOrThrow(createExportBodySchema, await readJsonBody(ctx));
    const exportId = randomUUID();
    const workflowId = exportWorkflowIdFor(exportId);
    await db(TABLES.exports).insert({
      id: exportId,
      requested_by: ctx.state.caller.customerId,
      format: body.format,
      filters: body.filters ?? {},
      status: 'running',
      cutoff: db.fn.now(),
      workflow_id: workflowId,
    });
    const input: ExportWorkflowInput = {
      exportId,
      pageSize: config.exportPageSize,
      pageTimeoutMs: config.exportPageTimeoutMs,
    };
    try {
      await callTemporal(temporal, call, () =>
        temporal.workflow.start(EXPORT_WORKFLOW_TYPE, {
          workflowId,
          taskQueue: config.temporal.taskQueue,
          args: [input],
        }),
      );
    } catch (error) {
      // No workflow will ever finish this row: record why, so GET /exports/:id does not show it running forever.
      await db(TABLES.exports)
        .where({ id: exportId })
        .update({ status: 'failed', error: 'the export could not be started', updated_at: db.fn.now() });
      throw error;
    }
    ctx.status = 202;
    ctx.set('Location', `/exports/${exportId}`);
    ctx.body = { exportId, status: 'running' };
  };
}

/** Handler of GET /exports/:id. */
export function getExport({ db }: RouteDeps): RouterMiddleware<AuthState> {
  return async (ctx) => {
    ctx.body = viewOf(await findExport(db, ctx.params.id));
  };
}

/**
 * Handler of GET /exports/:id/download: `text/csv`, one row per order line, streamed page by page; with `?bom=true`
 * the body starts with a UTF-8 byte order mark (`ctx.state.query`, validated by the router).
 */
export function getExportDownload({
  db,
  config,
}: RouteDeps): RouterMiddleware<AuthState & QueryState<ExportDownloadQuery>> {
  return async (ctx) => {
    const bom = ctx.state.query.bom === 'true';
    const row = await findExport(db, ctx.params.id);
    if (row.status !== 'completed') {
      throw new ApiError('export_not_ready', `export ${row.id} is ${row.status}; only a completed export downloads`, {
        exportId: row.id,
        status: row.status,
      });
    }
    const files = await db(TABLES.exportPages)
      .where({ export_id: row.id })
      .orderBy('page')
      .pluck<string[]>('file_name');
    const directory = exportDirectory(config.exportsDir, row.id);
    async function* csv(): AsyncGenerator<string | Buffer> {
      if (bom) yield UTF8_BOM;
      yield EXPORT_HEADER;
      for (const file of files) yield* createReadStream(path.join(directory, file)) as AsyncIterable<Buffer>;
    }
    ctx.status = 200;
    ctx.type = 'text/csv; charset=utf-8';
    ctx.set('Content-Disposition', `attachment; filename="orders-${row.id}.csv"`);
    ctx.body = Readable.from(csv());
  };
}
