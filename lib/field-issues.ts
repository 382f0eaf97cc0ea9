/**
 * Zod failures as field/message pairs, shared by every boundary that names the offending field: HTTP bodies, headers
 * and queries (lib/http/validate.ts `parseOrThrow`), the relay's socket frames (realtime/relay.ts) and the
 * reservation's order lines (activities/inventory.ts).
 */
import type { z } from 'zod';

/** Formats a zod path as `items[0].quantity`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** One problem with a request, by field. */
interface FieldIssue {
  field: string;
  message: string;
}

/** How `fieldIssues` names fields. */
export interface FieldNaming {
  /** Prefix of every field (a header name, say). @default '' */
  root?: string;
  /** The field of an issue about the value as a whole, when there is no root. @default 'body' */
  whole?: string;
  /** Message of a key the schema does not know. @default 'unknown field' */
  unknownKey?: string;
}

/**
 * Flattens zod issues to field/message pairs; unknown keys become one issue per key. A missing value reads "is
 * required" when the parse ran with `{ reportInput: true }` (every caller's does); a value of the wrong type keeps
 * the schema's message ("must be a string", or zod's "expected number, received string").
 */
export function fieldIssues(error: z.ZodError, naming: FieldNaming = {}): FieldIssue[] {
  const { root = '', whole = 'body', unknownKey = 'unknown field' } = naming;
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = formatPath([...issue.path, key]);
        issues.push({ field: root === '' ? field : `${root}.${field}`, message: unknownKey });
      }
      continue;
    }
    const path = formatPath(issue.path);
    const field = root === '' ? path || whole : path === '' ? root : `${root}.${path}`;
    // Only a parse with `reportInput` tells a missing value from a wrong one; without it, zod's own message says which.
    const missing = issue.code === 'invalid_type' && 'input' in issue && issue.input === undefined;
    issues.push({ field, message: missing ? 'is required' : issue.message });
  }
  return issues;
}
