import type { Config } from './config';

/** Keys whose values never reach a log line (payment tokens, secrets, credentials, key material). */
const REDACTED_KEYS =
  /token|secret|password|passphrase|authorization|api[-_]?key|private[-_]?key|credential|jwt|fingerprint|cookie|codec[-_]?keys?/i;

/** Secrets recognisable by their shape wherever they appear in a string (a message, an error, a URL). */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-_.=+/~]{8,}/g, '$1 [redacted]'],
];

/** Nesting kept in a log line; anything deeper is replaced, never written unredacted. */
const MAX_DEPTH = 6;

/** A structured logger writing one JSON object per line to stderr. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;

function scrub(text: string): string {
  return SECRET_PATTERNS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

/**
 * Replaces secret-looking fields and token-shaped strings, and serialises errors, so logs stay useful and safe. Bytes
 * (e.g. Temporal payloads in the SDK's trace logs) are never written, only their length; cycles and nesting deeper
 * than MAX_DEPTH are cut off rather than written as they are.
 */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return scrub(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[binary ${value.byteLength} bytes]`;
  if (depth > MAX_DEPTH) return '[truncated]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (value instanceof Error) {
      return { name: value.name, message: scrub(value.message), ...(value.stack ? { stack: scrub(value.stack) } : {}) };
    }
    if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = REDACTED_KEYS.test(key) ? '[redacted]' : redact(item, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value); // the same object twice side by side is not a cycle
  }
}

/** Builds a logger for one process; `level` comes from `Config.logLevel`. */
export function createLogger(
  name: string,
  level: Config['logLevel'] = 'info',
  base: Record<string, unknown> = {},
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const threshold = LEVELS[level];
  const log =
    (lvl: Exclude<keyof typeof LEVELS, 'silent'>) =>
    (message: string, fields: Record<string, unknown> = {}): void => {
      if (LEVELS[lvl] < threshold) return;
      const entry = { time: new Date().toISOString(), level: lvl, name, msg: message, ...base, ...fields };
      write(`${JSON.stringify(redact(entry))}\n`);
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => createLogger(name, level, { ...base, ...fields }, write),
  };
}
