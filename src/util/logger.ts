import pino, { type Logger } from 'pino';

/** Structured JSON logs on stdout, one logger per process named for its component. */
export function createLogger(component: string, level = 'info'): Logger {
  return pino({ name: `stormproof-${component}`, level });
}
