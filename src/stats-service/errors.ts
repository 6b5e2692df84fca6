import type { FastifyError, FastifySchemaValidationError } from 'fastify';
import type { ErrorBody, ErrorDetail } from './contract';

/** An error that already knows the status and body its client gets. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): ErrorBody {
    return this.details
      ? { error: this.code, message: this.message, details: this.details }
      : errorBody(this.code, this.message);
  }
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: code, message };
}

/** Field name used when a whole record, rather than one of its fields, is wrong. */
const WHOLE_RECORD = '(event)';

const CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  503: 'Unavailable',
};

/** Maps anything thrown while serving a request to what the client gets; internals of 5xx are not exposed. */
export function toHttpError(err: FastifyError): HttpError {
  if (err instanceof HttpError) return err;
  if (err.validation) {
    const where = err.validationContext ?? 'request';
    const details = mergeByField(err.validation.map((e) => ajvDetail(e, where)));
    return new HttpError(
      400,
      'ValidationFailed',
      `${details.length} invalid value(s) in the ${where}`,
      details,
    );
  }
  const status = err.statusCode ?? 500;
  if (status >= 500 && status !== 503) return new HttpError(500, 'InternalError', 'internal error');
  return new HttpError(status, CODES[status] ?? 'BadRequest', err.message);
}

/** One ajv error as a detail; inside `events`, the record's position becomes `index`. */
function ajvDetail(e: FastifySchemaValidationError, where: string): ErrorDetail {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const property = e.params.missingProperty ?? e.params.additionalProperty;
  if (typeof property === 'string') path.push(property);
  const reason =
    typeof e.params.propertyName === 'string'
      ? `key ${JSON.stringify(e.params.propertyName)}: ${e.message}`
      : e.message;
  const detail = { reason: reason ?? e.keyword };
  if (where === 'body' && path[0] === 'events' && path[1] !== undefined && /^\d+$/.test(path[1])) {
    return { index: Number(path[1]), field: path.slice(2).join('.') || WHOLE_RECORD, ...detail };
  }
  return { field: path.join('.') || where, ...detail };
}

/** One detail per (record, field), as several keywords (e.g. pattern and format) can fail on one value. */
function mergeByField(details: ErrorDetail[]): ErrorDetail[] {
  const byField = new Map<string, ErrorDetail>();
  for (const d of details) {
    const key = `${d.index ?? ''}/${d.field}`;
    const seen = byField.get(key);
    if (seen) seen.reason = `${seen.reason}; ${d.reason}`;
    else byField.set(key, { ...d });
  }
  return [...byField.values()];
}
