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
 * Where a spreadsheet may start a new cell inside a text cell of ours, followed by a character that starts a formula
 * there. Not every reader splits on our comma: a spreadsheet in a locale whose list separator is `;` (de, fr, nl,
 * ...), or an import set to `;` or tab, splits a cell at `;` or a tab, and a line break inside a quoted cell starts a
 * new row for a reader that does not take the quotes (OWASP, "CSV Injection": https://owasp.org/www-community/attacks/CSV_Injection).
 */
const FORMULA_AFTER_SPLIT = /([;\t\r\n])(?=[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/g;

/**
 * CSV of `records`: RFC 4180 quoting of commas, quotes, line feeds and carriage returns; a text cell starting with
 * = + - @ (or their full-width forms), a tab or a carriage return is prefixed with `'` (csv-stringify's
 * `escape_formulas`), and so is every such character that follows a `;`, a tab, a CR or an LF inside a text cell, so no spreadsheet runs any part of a cell
 * as a formula, whatever it splits cells on. Numbers are written as numbers.
 */
export function toCsv(records: readonly (readonly CsvCell[])[]): string {
  // csv-stringify quotes only the record delimiter it writes (LF); RFC 4180 quotes a field holding CR too.
  return stringify(records as CsvCell[][], {
    escape_formulas: true,
    cast: { string: (value) => value.replace(FORMULA_AFTER_SPLIT, "$1'") },
    record_delimiter: 'unix',
    quoted_match: /\r/,
  });
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
