import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from 'pino';

/** Routes the Temporal SDK's own logs (worker state, workflow and activity logs) into the process's pino log. */
export function temporalLoggerFrom(log: Logger): TemporalLogger {
  const at =
    (level: 'trace' | 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, meta?: LogMetadata): void =>
      log[level](meta ?? {}, message);
  const byLevel = {
    TRACE: at('trace'),
    DEBUG: at('debug'),
    INFO: at('info'),
    WARN: at('warn'),
    ERROR: at('error'),
  };
  return {
    log: (level: LogLevel, message: string, meta?: LogMetadata) => byLevel[level](message, meta),
    trace: byLevel.TRACE,
    debug: byLevel.DEBUG,
    info: byLevel.INFO,
    warn: byLevel.WARN,
    error: byLevel.ERROR,
  };
}
