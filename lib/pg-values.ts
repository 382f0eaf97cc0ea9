/**
 * Values a boundary hands to PostgreSQL as typed parameters (`?::timestamptz`, a `bigint` column) must be ones
 * PostgreSQL accepts: a value it refuses to cast fails the query, which the caller would see as a 500. Every such
 * value is checked here first, so a boundary refuses it with a 400 instead.
 */
import { z } from 'zod';

/** The widest time zone displacement PostgreSQL accepts, in minutes (±15:59). */
const MAX_OFFSET_MINUTES = 15 * 60 + 59;

/** The largest PostgreSQL `bigint`. */
const BIGINT_MAX = 9_223_372_036_854_775_807n;

/** What a refused timestamp's issue says (completes "<field>: ..."). */
export const TIMESTAMP_RULE =
  'must be an ISO-8601 date-time with an offset (e.g. 2026-01-31T12:00:00Z), year 0001-9999, offset within ±15:59';

/**
 * True when an ISO-8601 date-time (already of `z.iso.datetime({ offset: true })`'s shape, which also rejects days a
 * month does not have) is within what `timestamptz` accepts: PostgreSQL has no year 0000 and refuses offsets beyond
 * ±15:59.
 */
function inTimestamptzRange(value: string): boolean {
  if (value.startsWith('0000')) return false;
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(value);
  return offset === null || Number(offset[2]) * 60 + Number(offset[3]) <= MAX_OFFSET_MINUTES;
}

/**
 * A zod schema for a date-time PostgreSQL `timestamptz` accepts: ISO-8601 with `Z` or `±HH:MM`, a real calendar date,
 * year 0001-9999, offset within ±15:59. Every refusal says `message`.
 */
export function timestamptzSchema(message: string = TIMESTAMP_RULE) {
  return z.iso.datetime({ offset: true, error: message }).refine(inTimestamptzRange, { error: message });
}

const timestampSchema = timestamptzSchema();

/** True when `value` is a date-time `timestamptz` accepts (see `timestamptzSchema`). */
export function isTimestamptz(value: string): boolean {
  return timestampSchema.safeParse(value).success;
}

/** True when `value` is the decimal text of a positive PostgreSQL `bigint` (a `bigserial` id: 1..2^63-1). */
export function isBigintId(value: string): boolean {
  return /^\d{1,19}$/.test(value) && BigInt(value) >= 1n && BigInt(value) <= BIGINT_MAX;
}
