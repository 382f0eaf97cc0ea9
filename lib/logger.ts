import type { Config } from './config';

/** Keys whose values never reach a log line (payment tokens, secrets, credentials). */
const REDACTED_KEYS = /token|secret|password|authorization|apikey|api_key|fingerprint|cookie/i;

/** A structured logger writing one JSON object per line to stderr. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;

/** Replaces secret-looking fields and serialises errors so logs stay useful and safe. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = REDACTED_KEYS.test(key) ? '[redacted]' : redact(item, depth + 1);
  }
  return out;
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
