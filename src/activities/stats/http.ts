import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';
import type { z } from 'zod';
import { errorBodySchema } from '../../stats-service/contract';

export interface StatsEndpoint {
  /** Base URL of one region's stats API, e.g. http://127.0.0.1:4601 */
  url: string;
  token?: string;
}

export interface StatsRequest<T> {
  endpoint: StatsEndpoint;
  method: 'GET' | 'POST';
  /** Path with query string, e.g. /v1/buckets?granularity=hour&... */
  path: string;
  /** JSON text of the request body (callers that hold records as JSON text splice them in unparsed), or bytes. */
  body?: string | Uint8Array;
  /** Of `body`; default application/json. */
  contentType?: string;
  /** Of `body`, e.g. gzip; default none. */
  contentEncoding?: string;
  timeoutMs: number;
  /** The expected success body. */
  response: z.ZodType<T>;
  /** The caller's cancellation (an activity's, or a process's shutdown); each request also has its own timeout. */
  signal: AbortSignal;
}

/** Longest server answer quoted in a failure, so a stray HTML page does not bloat workflow history. */
const MAX_QUOTED_BODY = 2000;

/**
 * Calls the stats API (from an activity or the ingest's fast path) and turns every failure into the
 * ApplicationFailure a retry policy needs: transient ones (timeouts, connection errors, 408/425/429/5xx) are
 * retryable and honour Retry-After; rejections (other 4xx, malformed answers) are non-retryable and carry the
 * server's error body in `details`. Cancellation through `signal` aborts the request and propagates as is.
 */
export async function statsRequest<T>(req: StatsRequest<T>): Promise<T> {
  const cancellationSignal = req.signal;
  const url = `${req.endpoint.url.replace(/\/+$/, '')}${req.path}`;
  const what = `${req.method} ${url}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
  if (req.contentEncoding !== undefined) headers['content-encoding'] = req.contentEncoding;
  if (req.endpoint.token) headers.authorization = `Bearer ${req.endpoint.token}`;

  let status: number;
  let retryAfter: string | null;
  let text: string;
  try {
    // One signal covers connecting, sending and reading the whole body. undici's request, not fetch: fetch
    // wraps every body in a web stream, which cost the ingest twice the CPU per delivery (docs/benchmarks.md).
    const res = await request(url, {
      method: req.method,
      headers,
      body: req.body,
      signal: AbortSignal.any([cancellationSignal, AbortSignal.timeout(req.timeoutMs)]),
    });
    status = res.statusCode;
    retryAfter = firstHeader(res.headers['retry-after']);
    text = await res.body.text();
  } catch (err) {
    if (cancellationSignal.aborted) throw err;
    throw networkFailure(err, what, req.timeoutMs);
  }

  if (status < 200 || status >= 300) throw statusFailure(status, retryAfter, text, what);
  const parsed = req.response.safeParse(parseJson(text));
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: 'StatsBadResponse',
      message: `${what}: unexpected answer: ${quote(text)}`,
      nonRetryable: true,
    });
  }
  return parsed.data;
}

function networkFailure(err: unknown, what: string, timeoutMs: number): ApplicationFailure {
  const timedOut = stringProperty(err, 'name') === 'TimeoutError';
  return ApplicationFailure.create({
    type: timedOut ? 'StatsTimeout' : 'StatsUnavailable',
    message: timedOut ? `${what}: no answer within ${timeoutMs} ms` : `${what}: ${describeNetworkError(err)}`,
    nonRetryable: false,
    cause: err instanceof Error ? err : undefined,
  });
}

function statusFailure(
  status: number,
  retryAfter: string | null,
  text: string,
  what: string,
): ApplicationFailure {
  const json = parseJson(text);
  const body = errorBodySchema.safeParse(json);
  const summary = body.success ? `${body.data.error}: ${body.data.message}` : quote(text);
  const message = `${what}: HTTP ${status} ${summary}`;
  // The server's error body as sent (per-record details included), or its text when it is not JSON.
  const details = [body.success ? json : quote(text)];
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const delayMs = retryAfterMs(retryAfter);
    return ApplicationFailure.create({
      type: 'StatsUnavailable',
      message,
      nonRetryable: false,
      details,
      ...(delayMs !== undefined && { nextRetryDelay: delayMs }),
    });
  }
  return ApplicationFailure.create({ type: rejectionType(status), message, nonRetryable: true, details });
}

function rejectionType(status: number): string {
  switch (status) {
    case 401:
    case 403:
      return 'StatsUnauthorized';
    case 404:
      return 'StatsNotFound';
    case 413:
      return 'StatsPayloadTooLarge';
    case 415:
      return 'StatsUnsupportedMediaType';
    default:
      return 'StatsRejected';
  }
}

/** Retry-After as delta-seconds or HTTP-date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A connection problem, with the system error's code (undici's own, or a cause's as fetch reports it). */
function describeNetworkError(err: unknown): string {
  const message = stringProperty(err, 'message') ?? String(err);
  const cause = property(err, 'cause');
  const reason =
    stringProperty(err, 'code') ?? stringProperty(cause, 'code') ?? stringProperty(cause, 'message');
  return reason === undefined || message.includes(reason) ? message : `${message} (${reason})`;
}

function firstHeader(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/**
 * Reads a property of a thrown value without `instanceof`: undici's errors (and DOMException) do not
 * always descend from this realm's Error, e.g. under jest's VM contexts.
 */
function property(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && key in value
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

function stringProperty(value: unknown, key: string): string | undefined {
  const found = property(value, key);
  return typeof found === 'string' ? found : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function quote(text: string): string {
  return text.length > MAX_QUOTED_BODY ? `${text.slice(0, MAX_QUOTED_BODY)}…` : text;
}
