import pino, { type Logger, type LoggerOptions } from 'pino';

/**
 * Fields that may hold a secret or an event payload, at the top of a log object or one level down (e.g.
 * `req.headers` is two levels, hence its own entry). pino replaces them with "[Redacted]", so a careless
 * `log.info({ input }, …)` cannot leak IP addresses, user agents, revenue or credentials into the logs.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  ...['authorization', 'cookie', 'token', 'tokens', 'apiKey', 'keys', 'secret', 'password'].flatMap((f) => [
    f,
    `*.${f}`,
  ]),
  ...['events', 'attributes', 'payloads', 'payload', 'body', 'args', 'input'].flatMap((f) => [f, `*.${f}`]),
];

/** pino options of every process's logger (and of its fastify server): JSON, named, redacted. */
export function logOptions(component: string, level = 'info'): LoggerOptions {
  return { name: `stormproof-${component}`, level, redact: { paths: REDACT_PATHS, censor: '[Redacted]' } };
}

/** Structured JSON logs on stdout, one logger per process named for its component. */
export function createLogger(component: string, level = 'info'): Logger {
  return pino(logOptions(component, level));
}
