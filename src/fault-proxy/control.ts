import Fastify, { LogController, type FastifyError } from 'fastify';
import type { Logger } from 'pino';
import { describeIssues, faultSchema, PASS } from './faults';
import type { FaultListener } from './listener';

class ControlError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The JSON control API: read listeners with their fault and counters, set or clear faults at run time.
 * Every error answer is `{ "error": "…" }`; a refused fault also lists its `issues` field by field.
 */
export function buildControlApi(listeners: ReadonlyMap<string, FaultListener>, log: Logger) {
  // Fault changes are logged by the routes; per-request lines of a control API would only add noise.
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
  });

  const listenerNamed = (name: string): FaultListener => {
    const listener = listeners.get(name);
    if (!listener) {
      throw new ControlError(404, `unknown listener "${name}"; known: ${[...listeners.keys()].join(', ')}`);
    }
    return listener;
  };

  app.setErrorHandler((err: FastifyError, _request, reply) =>
    reply.code(err.statusCode ?? 500).send({ error: err.message }),
  );
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${request.url}` }),
  );

  app.get('/health', () => ({ status: 'ok' }));

  app.get('/listeners', () => ({ listeners: [...listeners.values()].map((l) => l.status()) }));

  app.put<{ Params: { name: string } }>('/listeners/:name/fault', (request, reply) => {
    const listener = listenerNamed(request.params.name);
    const parsed = faultSchema.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({
        error: `invalid fault: ${describeIssues(parsed.error)}`,
        issues: parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
      });
    }
    log.info({ listener: listener.name, fault: parsed.data }, 'fault set');
    return listener.setFault(parsed.data);
  });

  app.delete<{ Params: { name: string } }>('/listeners/:name/fault', (request) => {
    const listener = listenerNamed(request.params.name);
    log.info({ listener: listener.name }, 'fault cleared');
    return listener.setFault(PASS);
  });

  app.delete('/faults', () => {
    log.info('all faults cleared');
    return { listeners: [...listeners.values()].map((l) => l.setFault(PASS)) };
  });

  return app;
}
