import { request, type ClientRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TrackingEvent } from '../../src/shared/event';
import { startStatsService, type StatsServiceOptions } from '../../src/stats-service/server';

/** A fresh directory for one test's database; removed by the returned cleanup. */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'stats-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestService {
  url: string;
  dbPath: string;
  close(): Promise<void>;
}

/** The real service in-process on a free port with its own database; close() also deletes the database. */
export async function startTestService(options: Partial<StatsServiceOptions> = {}): Promise<TestService> {
  const tmp = tempDir();
  const dbPath = path.join(tmp.dir, 'stats.sqlite');
  try {
    const service = await startStatsService({ port: 0, dbPath, logLevel: 'silent', ...options });
    return {
      url: service.url,
      dbPath,
      close: async () => {
        await service.close();
        tmp.remove();
      },
    };
  } catch (err) {
    tmp.remove();
    throw err;
  }
}

/** For a describe block: starts test services, each closed (and its database deleted) after its test. */
export function servicesPerTest(): (options?: Partial<StatsServiceOptions>) => Promise<TestService> {
  const services: TestService[] = [];
  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.close()));
  });
  return async (options = {}) => {
    const service = await startTestService(options);
    services.push(service);
    return service;
  };
}

/** Polls `probe` until it returns a value, failing after `deadlineMs`: conditions, never fixed sleeps. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  deadlineMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** jest's asymmetric matchers are typed `any`; typed `unknown` they can sit in expected objects. */
export const anyString: unknown = expect.any(String);
export function stringWith(text: string): unknown {
  return expect.stringContaining(text);
}

export const T0 = '2024-03-01T10:00:00Z';

/** `count` valid events named `${prefix}-<n>`, spread one per second from `start`. */
export function makeEvents(
  count: number,
  {
    prefix = 'evt',
    region = 'us-east-1',
    start = T0,
  }: { prefix?: string; region?: string; start?: string } = {},
): TrackingEvent[] {
  const t0 = Date.parse(start);
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(6, '0')}`,
    type: 'click' as const,
    timestamp: new Date(t0 + i * 1000).toISOString(),
    region,
    offerId: 'offer-1',
    affiliateId: 'aff-1',
    attributes: { n: i },
  }));
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One HTTP call to the service with a JSON answer (every answer of the service is JSON). */
export async function call(
  url: string,
  init: { method?: string; body?: unknown; token?: string; rawBody?: string } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined || init.rawBody !== undefined) headers['content-type'] = 'application/json';
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined && init.rawBody === undefined ? 'GET' : 'POST'),
    headers,
    body: init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

export function postEvents(baseUrl: string, events: unknown[], token?: string): Promise<JsonResponse> {
  return call(`${baseUrl}/v1/events`, { body: { events }, token });
}

export function bucketsUrl(
  baseUrl: string,
  q: { granularity: 'minute' | 'hour'; from: string; to: string; region?: string },
): string {
  const query = new URLSearchParams({ granularity: q.granularity, from: q.from, to: q.to });
  if (q.region !== undefined) query.set('region', q.region);
  return `${baseUrl}/v1/buckets?${query.toString()}`;
}

/**
 * A POST that sent its headers and half its body, so the service counts it as in progress until
 * release() sends the rest. `answered` is set once the service responded (early if it shed the request).
 */
export class HeldRequest {
  answered: number | undefined;
  private readonly req: ClientRequest;
  private readonly response: Promise<number>;
  private readonly body = JSON.stringify({ events: [] });

  constructor(baseUrl: string, token?: string) {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(this.body)),
    };
    if (token) headers.authorization = `Bearer ${token}`;
    this.req = request(`${baseUrl}/v1/events`, { method: 'POST', headers, timeout: 10_000 });
    this.response = new Promise<number>((resolve, reject) => {
      this.req.once('response', (res) => {
        this.answered = res.statusCode ?? 0;
        res.resume();
        res.once('end', () => resolve(this.answered ?? 0));
      });
      this.req.once('error', reject);
      this.req.once('timeout', () => this.req.destroy(new Error('held request timed out')));
    });
    // Failures surface through release(); a shed request may also see its socket closed.
    this.response.catch(() => undefined);
    this.req.write(this.body.slice(0, 5));
  }

  abandon(): void {
    this.req.destroy();
  }

  /** Sends the rest of the body; resolves with the status the service answered. */
  release(): Promise<number> {
    this.req.end(this.body.slice(5));
    return this.response;
  }
}

/**
 * Saturates a service started with maxInFlight 1: keeps a HeldRequest in progress and polls `probe` until
 * it reports being shed. If a probe happened to hold the slot when the held request arrived, that one was
 * shed instead, so it is replaced and polling goes on.
 */
export async function saturate<T>(
  baseUrl: string,
  probe: () => Promise<T | undefined>,
  token?: string,
): Promise<{ shed: T; held: HeldRequest }> {
  let held = new HeldRequest(baseUrl, token);
  const shed = await waitFor(async () => {
    if (held.answered !== undefined) {
      held.abandon();
      held = new HeldRequest(baseUrl, token);
    }
    return probe();
  }, 'the service to shed a request');
  return { shed, held };
}
