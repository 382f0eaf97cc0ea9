/**
 * The "storable text" rule: text that PostgreSQL can store in `text`/`jsonb` and that every boundary accepts.
 *
 * PostgreSQL refuses U+0000 in `text` and `jsonb` (SQLSTATE 22P05, "unsupported Unicode escape sequence" /
 * "invalid byte sequence for encoding UTF8": https://www.postgresql.org/docs/current/datatype-character.html), and a
 * lone UTF-16 surrogate cannot be encoded as UTF-8 at all (https://unicode.org/faq/utf_bom.html#utf16-7). The rule
 * also refuses the bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069; Unicode
 * UAX #9, https://www.unicode.org/reports/tr9/#Explicit_Directional_Formatting_Characters): stored, they would
 * reorder whatever is displayed after them in the Temporal UI, the CSV exports, logs and terminals (the "Trojan
 * Source" spoofing, CVE-2021-42574), and no name, SKU, customer id or reason needs them. The implicit marks LRM/RLM
 * (U+200E, U+200F) stay allowed. All are refused at the edge (HTTP, JWT, relay frames) and normalised away where
 * refusing is not possible (workflow signals).
 *
 * Pure: no Node built-ins, so the workflow bundle imports it too.
 */

/** Longest free-text reason (cancel reasons, stock adjustment reasons), in UTF-16 code units. */
export const MAX_REASON_LENGTH = 200;

/** U+0000, a surrogate code unit that is not part of a valid pair, or an explicit bidirectional control. */
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- U+0000 is exactly what this rule exists to find
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\u202A-\u202E\u2066-\u2069]/;
const UNSTORABLE_GLOBAL = new RegExp(UNSTORABLE.source, 'g');

/** Why `value` cannot be stored, or undefined when it can (the message completes "must ..."-style errors). */
export function storableTextIssue(value: string): string | undefined {
  const found = UNSTORABLE.exec(value);
  if (found === null) return undefined;
  const char = found[0];
  if (char === '\u0000') return 'must not contain the NUL character (U+0000)';
  if (/[\u202A-\u202E\u2066-\u2069]/.test(char)) {
    const code = `U+${char.charCodeAt(0).toString(16).toUpperCase()}`;
    return `must not contain bidirectional control characters (found ${code})`;
  }
  return 'must not contain unpaired UTF-16 surrogates';
}

/** True when PostgreSQL can store `value` as `text`/`jsonb`. */
export function isStorableText(value: string): boolean {
  return storableTextIssue(value) === undefined;
}

/**
 * Makes any value a storable string of at most `maxLength` code units, for inputs that cannot be refused (signals
 * typed by operators): non-strings give undefined, U+0000, lone surrogates and bidirectional controls become U+FFFD, the rest is cut at
 * `maxLength` without splitting a surrogate pair. Returns undefined for an empty result.
 */
export function normaliseStorableText(value: unknown, maxLength: number = MAX_REASON_LENGTH): string | undefined {
  if (typeof value !== 'string') return undefined;
  let text = value.replace(UNSTORABLE_GLOBAL, '\uFFFD').trim();
  if (text.length > maxLength) {
    text = text.slice(0, maxLength);
    if (/[\uD800-\uDBFF]$/.test(text)) text = text.slice(0, -1);
  }
  return text.length > 0 ? text : undefined;
}
