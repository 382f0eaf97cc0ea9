import type { Logger as TemporalLogger, LogLevel, LogMetadata } from '@temporalio/common';
import type { Logger } from '../lib/logger';

/** Temporal log levels onto ours (we have no TRACE). */
const LEVELS: Record<LogLevel, keyof Omit<Logger, 'child'>> = {
  TRACE: 'debug',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Keeps the string-keyed fields of SDK log metadata (the SDK also attaches symbol-keyed internals). */
function fields(meta: LogMetadata | undefined): Record<string, unknown> {
  if (meta === undefined) return {};
  return Object.fromEntries(Object.entries(meta));
}

/** Routes the Temporal SDK's logs (worker, workflow `log`, activity context) into our JSON logger. */
export function temporalLogger(logger: Logger): TemporalLogger {
  const at =
    (level: LogLevel) =>
    (message: string, meta?: LogMetadata): void =>
      logger[LEVELS[level]](message, fields(meta));
  return {
    log: (level, message, meta) => at(level)(message, meta),
    trace: at('TRACE'),
    debug: at('DEBUG'),
    info: at('INFO'),
    warn: at('WARN'),
    error: at('ERROR'),
  };
}
