/**
 * The on-disk form of an export, shared by the worker (writes pages) and the API (streams them): CSV columns and
 * escaping, page file names and the export's directory under EXPORTS_DIR.
 */
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';

/** Columns of an export, one row per order line (amounts in integer cents; the line total is quantity x unit). */
export const EXPORT_COLUMNS = [
  'order_id',
  'created_at',
  'customer_id',
  'status',
  'sku',
  'quantity',
  'unit_price_cents',
  'line_total_cents',
  'currency',
] as const;

/** One CSV cell: text, a number, or empty. */
export type CsvCell = string | number | null;

/**
 * CSV of `records` (RFC 4180 quoting of commas, quotes, line feeds and carriage returns; a text cell starting with = + - @, a tab or a
 * carriage return is prefixed with `'` so spreadsheets never run it as a formula). Numbers are written as numbers.
 */
export function toCsv(records: readonly (readonly CsvCell[])[]): string {
  // csv-stringify quotes only the record delimiter it writes (LF); RFC 4180 quotes a field holding CR too.
  return stringify(records as CsvCell[][], { escape_formulas: true, record_delimiter: 'unix', quoted_match: /\r/ });
}

/** The header line every download starts with. */
export const EXPORT_HEADER = toCsv([[...EXPORT_COLUMNS]]);

/** File name of one page (zero-padded so a directory listing sorts like the pages). */
export function exportPageFile(page: number): string {
  return `page-${String(page).padStart(6, '0')}.csv`;
}

/** Directory of one export's pages. */
export function exportDirectory(exportsDir: string, exportId: string): string {
  return path.resolve(exportsDir, exportId);
}
