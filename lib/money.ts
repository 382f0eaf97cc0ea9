/**
 * Amounts of money are integer cents. PostgreSQL keeps order totals and payment amounts in `bigint` columns, which
 * node-postgres returns as strings (a `bigint` can exceed what a JavaScript number holds exactly); every read turns
 * them into numbers here, exactly or not at all.
 *
 * Totals cannot come near the limit: a line is at most 1000 units of a product priced at most 2^31 - 1 cents
 * (`products.price_cents integer`), an order at most 50 lines, so a total is below 1.1e14 cents, far under
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1, about 9.007e15). The database refuses anything above that limit too (CHECK
 * constraints of migrations/20261130010000_money_within_safe_integers.ts), so a larger value is corrupt data.
 */

/** Largest number of cents stored or answered: `Number.MAX_SAFE_INTEGER`, the largest exact integer of a number. */
export const MAX_CENTS = Number.MAX_SAFE_INTEGER;

/** A stored amount that is not an exact integer number of cents within 0..MAX_CENTS. */
export class InexactCentsError extends Error {
  constructor(column: string, value: unknown) {
    super(`${column} holds ${String(value)}, not an integer number of cents from 0 to ${MAX_CENTS}`);
    this.name = 'InexactCentsError';
  }
}

/**
 * The exact number of cents of a `bigint`/`integer` column value (a decimal string, a number or a bigint). Throws
 * `InexactCentsError` naming `column` for anything that is not an integer from 0 to `MAX_CENTS`, instead of
 * silently rounding as `Number()` would.
 */
export function exactCents(value: unknown, column: string): number {
  let cents: bigint;
  if (typeof value === 'bigint') cents = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) cents = BigInt(value);
  else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) cents = BigInt(value);
  else throw new InexactCentsError(column, value);
  if (cents < 0n || cents > BigInt(MAX_CENTS)) throw new InexactCentsError(column, value);
  return Number(cents);
}
