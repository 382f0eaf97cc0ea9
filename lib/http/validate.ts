/**
 * The one function the HTTP boundaries (the API's bodies, headers and queries; the relay's `/dev-token` through
 * lib/http/query.ts; the codec server's payloads) use to turn a zod failure into a 400 `validation_failed` naming the
 * offending field.
 */
import type { z } from 'zod';
import { fieldIssues } from '../field-issues';
import { validationError } from './errors';

/**
 * Parses `value` with `schema` or throws a 400 naming the first offending field (all issues in `issues`); `root`
 * prefixes field names, `unknownKey` is the message of a key the schema does not know.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  root = '',
  unknownKey = 'unknown field',
): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = fieldIssues(result.error, { root, unknownKey });
  const first = issues[0] ?? { field: root || 'body', message: 'invalid' };
  throw validationError(first.field, first.message, issues.slice(0, 20));
}
