/**
 * The one place text schemas come from. Every string a boundary accepts — HTTP JSON bodies, headers, query
 * parameters, JWT claims, Socket.IO frames — is a `storableText(...)`: a string that PostgreSQL can store
 * (lib/storable-text.ts: no U+0000, no lone surrogates), within a length range, optionally matching a pattern.
 * The API and the relay both build their schemas from it, so one rule holds at every edge.
 */
import { z } from 'zod';
import { storableTextIssue } from './storable-text';

/** Limits of one text field. */
export interface TextOptions {
  /** Fewest UTF-16 code units. @default 1 */
  min?: number;
  /** Most UTF-16 code units (PostgreSQL `varchar(n)` counts characters, never more than code units). */
  max: number;
  /** A pattern the whole value must match, with the message a refusal carries ("must ..."). */
  pattern?: { regex: RegExp; message: string };
}

/**
 * A zod string schema for text a boundary accepts: a string (else "must be a string"), storable (its first
 * issue names U+0000 or the lone surrogate), `min`..`max` code units, matching `pattern` when given. Every
 * issue's message completes "<field>: ...".
 */
export function storableText({ min = 1, max, pattern }: TextOptions): z.ZodString {
  let schema = z.string({ error: 'must be a string' }).superRefine((value, ctx) => {
    const issue = storableTextIssue(value);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', message: issue, input: value });
  });
  schema =
    min === 1
      ? schema.min(1, { error: 'must not be empty' })
      : schema.min(min, { error: `must be at least ${min} characters` });
  // A pattern usually says more than the length does ("1-64 characters of A-Z..."), so its issue comes first.
  if (pattern !== undefined) schema = schema.regex(pattern.regex, { error: pattern.message });
  // zod's `max` counts code points, so 199 letters and an emoji (201 code units) would pass it and then be cut by a
  // consumer that counts code units (normaliseStorableText). `max` stays for the OpenAPI `maxLength`; the refinement
  // enforces code units, and only speaks when `max` did not already.
  const tooLong = `must be at most ${max} characters`;
  return schema
    .max(max, { error: tooLong })
    .refine((value) => value.length <= max || [...value].length > max, { error: tooLong });
}

/** Printable ASCII (U+0020..U+007E), for values that travel in HTTP headers and tokens. */
export const PRINTABLE_ASCII = { regex: /^[\x20-\x7E]+$/, message: 'must be printable ASCII' } as const;

/**
 * Text the API answers with from the database (names, SKUs, customer ids, reasons): storable text of any length,
 * its column bounds it. Response schemas use it, so a test that validates real responses also checks that nothing
 * unstorable was ever stored or echoed as data.
 */
export function storedText(): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    const issue = storableTextIssue(value);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', message: issue, input: value });
  });
}
