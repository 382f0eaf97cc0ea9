/**
 * Database errors that no retry can fix. PostgreSQL reports every error with a five-character SQLSTATE whose first
 * two characters are its class (https://www.postgresql.org/docs/current/errcodes-appendix.html):
 *
 * - class 22, data exception: the value itself is wrong and stays wrong, e.g. `22P05` untranslatable_character
 *   (U+0000 in `jsonb`), `22021` character_not_in_repertoire (U+0000 or invalid UTF-8 in `text`), `22003`
 *   numeric_value_out_of_range (a `bigint`/`integer` overflow), `22001` string_data_right_truncation (too long for a
 *   `varchar(n)`), `22P02` invalid_text_representation.
 * - class 23, integrity constraint violation: `23514` check_violation, `23502` not_null_violation, `23503`
 *   foreign_key_violation. Except `23505` unique_violation and `23P01` exclusion_violation, which concurrent writers
 *   of the same row cause and a retry settles (it finds the winner's row), so those stay retryable.
 *
 * Temporal retries an activity's failure until its policy gives up, which for unbounded policies is never: an
 * activity that hits one of these would keep its saga waiting forever. `withPermanentDbErrorsNonRetryable` turns
 * them into non-retryable `ApplicationFailure`s, so the workflow sees the failure at once and ends the order.
 * Everything else (connection loss, serialization failures, deadlocks, our own failures) passes through unchanged.
 */
import { ApplicationFailure } from '@temporalio/common';

/** `ApplicationFailure.type` of a database error no retry can fix. */
export const PERMANENT_DB_ERROR_TYPE = 'PermanentDatabaseError';

/** SQLSTATE classes whose errors are permanent. */
const PERMANENT_CLASSES: Readonly<Record<string, string>> = {
  '22': 'data exception',
  '23': 'integrity constraint violation',
};

/**
 * Our own SQLSTATEs that no retry can fix: `OF003`, a step that would move a closed order (migration 20261130130000).
 * The lean saga's steps answer it themselves; any other caller (the v1 shape's steps) fails at once instead of
 * retrying forever.
 */
const PERMANENT_CODES: Readonly<Record<string, string>> = { OF003: 'order closed' };

/** SQLSTATEs of a permanent class that a retry can still settle (races between concurrent writers). */
const RETRYABLE_IN_PERMANENT_CLASSES = new Set(['23505', '23P01']);

/** What a PostgreSQL error says about itself (node-postgres `DatabaseError` fields); never the values involved. */
export interface PermanentDbErrorDetails {
  /** The SQLSTATE, e.g. `22021`. */
  sqlstate: string;
  /** Its class name, e.g. `data exception`. */
  condition: string;
  table?: string;
  column?: string;
  constraint?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

function fieldOf(error: object, name: 'code' | 'table' | 'column' | 'constraint'): string | undefined {
  const value = (error as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The details of `error` (or of an error in its `cause` chain) when it is a PostgreSQL error no retry can fix;
 * undefined for anything else.
 */
export function permanentDbError(error: unknown): PermanentDbErrorDetails | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const code = fieldOf(current, 'code');
    if (code !== undefined && SQLSTATE.test(code)) {
      const condition = PERMANENT_CODES[code] ?? PERMANENT_CLASSES[code.slice(0, 2)];
      if (condition === undefined || RETRYABLE_IN_PERMANENT_CLASSES.has(code)) return undefined;
      const table = fieldOf(current, 'table');
      const column = fieldOf(current, 'column');
      const constraint = fieldOf(current, 'constraint');
      return {
        sqlstate: code,
        condition,
        ...(table !== undefined ? { table } : {}),
        ...(column !== undefined ? { column } : {}),
        ...(constraint !== undefined ? { constraint } : {}),
      };
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The non-retryable failure for a permanent database error. Its message names the SQLSTATE and the table, column
 * or constraint, never the SQL or its values (knex puts bound values in its messages, and failure messages are not
 * encrypted by the payload codec).
 */
export function permanentDbFailure(details: PermanentDbErrorDetails): ApplicationFailure {
  const where = [
    details.table && `table ${details.table}`,
    details.column && `column ${details.column}`,
    details.constraint && `constraint ${details.constraint}`,
  ].filter(Boolean);
  return ApplicationFailure.create({
    message: `the database refused the operation for good: SQLSTATE ${details.sqlstate} (${details.condition})${
      where.length > 0 ? ` on ${where.join(', ')}` : ''
    }`,
    type: PERMANENT_DB_ERROR_TYPE,
    nonRetryable: true,
    details: [details],
  });
}

/**
 * Wraps every function of an activities object so that a permanent database error it throws becomes a
 * non-retryable `ApplicationFailure` of type `PermanentDatabaseError`; results and every other error pass through.
 * Apply it once, where the activities are built (activities/index.ts).
 */
export function withPermanentDbErrorsNonRetryable<T extends object>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities)) {
    if (typeof activity !== 'function') {
      wrapped[name] = activity;
      continue;
    }
    const run = activity as (...args: unknown[]) => unknown;
    wrapped[name] = async (...args: unknown[]): Promise<unknown> => {
      try {
        return await run(...args);
      } catch (error) {
        if (error instanceof ApplicationFailure) throw error;
        const details = permanentDbError(error);
        throw details === undefined ? error : permanentDbFailure(details);
      }
    };
  }
  // Same keys, same signatures (every activity is async, so the wrapper's promise matches the original's).
  return wrapped as T;
}
