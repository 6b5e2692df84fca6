import { createHash } from 'node:crypto';
import {
  createServer,
  request,
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFaultProxy, type FaultProxy } from '../../src/fault-proxy';
import { createLogger } from '../../src/util/logger';
import { waitUntil } from '../../src/util/waitUntil';

/** A request as the upstream saw it. */
export interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  bytes: number;
  sha256: string;
}

/** Route 53's GetChange answer once the change has propagated. */
export const INSYNC_CHANGE =
  '<?xml version="1.0" encoding="UTF-8"?>\n<GetChangeResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">' +
  '<ChangeInfo><Id>/change/C1</Id><Status>INSYNC</Status><SubmittedAt>2017-02-28T17:37:00Z</SubmittedAt></ChangeInfo>' +
  '</GetChangeResponse>';

/** Byte i of a download is i mod 251, so a reordered or truncated stream changes the digest. */
export function downloadBytes(n: number): Buffer {
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = i % 251;
  return bytes;
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export interface TestUpstream {
  url: string;
  /** Complete requests, in arrival order (the /stall ones as soon as their headers arrive). */
  received: Received[];
  /** Body bytes received so far over all requests, complete or not. */
  bodyBytes(): number;
  /** Lets a gated /download finish (it sends its first chunk, then waits for this). */
  openGate(): void;
  close(): Promise<void>;
}

/**
 * A real upstream that records what reaches it:
 * - `/stall`: never answers;
 * - `/change`: a Route 53 GetChange answer saying INSYNC;
 * - `/download?bytes=N[&gated]`: N bytes of `downloadBytes`, the rest after `openGate()` when gated;
 * - anything else: reads the body and answers 200 JSON `{ method, url, bytes, sha256 }`, with a duplicated
 *   response header to show that the proxy keeps duplicates.
 */
export async function startUpstream(): Promise<TestUpstream> {
  const received: Received[] = [];
  let bodyBytes = 0;
  let openGate = (): void => {};
  const gate = new Promise<void>((resolve) => (openGate = resolve));

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const record = (bytes: number, digest: string): void => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        bytes,
        sha256: digest,
      });
    };
    if (url.pathname === '/stall') return record(0, '');
    if (url.pathname === '/download') {
      record(0, '');
      const body = downloadBytes(Number(url.searchParams.get('bytes')));
      const first = body.subarray(0, 64 * 1024);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.write(first);
      const rest = body.subarray(first.length);
      if (url.searchParams.has('gated')) void gate.then(() => res.end(rest));
      else res.end(rest);
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      bodyBytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const digest = hash.digest('hex');
      record(bytes, digest);
      if (url.pathname === '/change') {
        res.writeHead(200, {
          'Content-Type': 'text/xml',
          'Content-Length': Buffer.byteLength(INSYNC_CHANGE),
        });
        res.end(INSYNC_CHANGE);
        return;
      }
      const body = JSON.stringify({ method: req.method, url: req.url, bytes, sha256: digest });
      res.writeHead(200, [
        'Content-Type',
        'application/json',
        'X-Upstream-Note',
        'first',
        'X-Upstream-Note',
        'second',
        'Content-Length',
        String(Buffer.byteLength(body)),
      ]);
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    bodyBytes: () => bodyBytes,
    openGate,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Answer {
  status: number;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders | string[];
  body?: Buffer | string;
  /** The client gives up after this long (the request fails with an AbortError). */
  timeoutMs?: number;
}

/** One request on a fresh connection, so no keep-alive socket outlives the test. */
export function send(url: string, options: SendOptions = {}): Promise<Answer> {
  const req = request(url, {
    method: options.method ?? 'GET',
    headers: options.headers,
    agent: false,
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const answer = answerOf(req);
  req.end(options.body);
  return answer;
}

/** The complete answer to a request the caller writes itself; rejects on any connection error. */
export function answerOf(req: ClientRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          rawHeaders: res.rawHeaders,
          headers: res.headers,
          body: Buffer.concat(chunks),
        }),
      );
    });
  });
}

/** Waits for a condition, failing the test with `what` when the deadline passes. */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  if (!(await waitUntil(condition, timeoutMs, 10))) throw new Error(`timed out waiting until ${what}`);
}

/** Header pairs without the ones each hop sets for itself. */
export function withoutConnection(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** The proxy on free ports with one listener per upstream, logging nothing. */
export function startTestProxy(
  upstreams: Record<string, string>,
  upstreamTimeoutMs?: number,
): Promise<FaultProxy> {
  return startFaultProxy({
    controlPort: 0,
    listeners: Object.entries(upstreams).map(([name, upstream]) => ({ name, port: 0, upstream })),
    upstreamTimeoutMs,
    logger: createLogger('fault-proxy', 'silent'),
  });
}
