import { request, type Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { buffer } from 'node:stream/consumers';
import { finished, pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { badGateway, drop, sendError } from './answers';

export interface UpstreamTarget {
  listener: string;
  /** http://host:port of the upstream, without a path. */
  origin: URL;
  /** Keep-alive agent of this listener, so forwarding does not add a connection set-up to every call. */
  agent: Agent;
  /** Longest silence (no byte either way) tolerated on an upstream call; then the client gets a 502. */
  timeoutMs: number;
  stats: { forwarded: number; upstreamErrors: number };
  log: Logger;
}

/** What the client gets once the upstream has answered. */
export type AnswerHandling = 'relay' | 'lose' | 'rewrite-pending';

/** Connection management belongs to each hop; every other header, signed or not, passes byte for byte. */
const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection']);
const HOP_BY_HOP_AND_LENGTH: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length']);

/** Raw header pairs (original case, order and duplicates) without the names in `except`. */
function headerPairs(raw: string[], except: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!except.has(name.toLowerCase())) out.push(name, raw[i + 1]!);
  }
  return out;
}

/**
 * Sends the request to the upstream as received, Host header included (SigV4 signs it; versitygw and moto
 * route path-style requests whatever the host), streaming the body both ways.
 */
export function forward(
  target: UpstreamTarget,
  req: IncomingMessage,
  res: ServerResponse,
  handling: AnswerHandling,
): void {
  target.stats.forwarded++;
  const upstreamReq = request({
    hostname: target.origin.hostname,
    port: target.origin.port,
    method: req.method,
    path: req.url,
    headers: headerPairs(req.rawHeaders, HOP_BY_HOP),
    agent: target.agent,
    timeout: target.timeoutMs,
  });
  let upstreamRes: IncomingMessage | undefined;
  let clientGone = false;

  const fail = (err: Error): void => {
    // One failure can surface as several events (request and answer stream); the first one decides.
    if (clientGone || res.writableEnded || res.destroyed) return;
    if (res.headersSent) {
      // Mid-answer: the client sees the answer break off, as it would on a direct connection.
      target.log.warn(
        { listener: target.listener, url: req.url, err: err.message },
        'upstream answer broke off',
      );
      res.destroy();
      return;
    }
    target.stats.upstreamErrors++;
    target.log.warn({ listener: target.listener, url: req.url, err: err.message }, 'upstream call failed');
    sendError(res, badGateway(req, target.listener, err.message));
  };

  upstreamReq.on('timeout', () =>
    upstreamReq.destroy(new Error(`no data from ${target.origin.origin} for ${target.timeoutMs} ms`)),
  );
  // Relaying the upstream's 100 Continue (instead of Node answering it at once) lets the client hold back
  // its body until the upstream has accepted the headers, as with a direct connection.
  upstreamReq.on('continue', () => res.writeContinue());
  upstreamReq.on('error', fail);
  upstreamReq.on('response', (answer) => {
    upstreamRes = answer;
    ANSWER_HANDLERS[handling](answer, res).catch(fail);
  });
  res.on('close', () => {
    // The client left before the upstream's answer was complete: do not keep the upstream call going.
    if (upstreamRes?.complete) return;
    clientGone = true;
    upstreamReq.destroy();
  });
  req.pipe(upstreamReq);
}

async function relay(upstreamRes: IncomingMessage, res: ServerResponse): Promise<void> {
  res.writeHead(
    upstreamRes.statusCode ?? 502,
    upstreamRes.statusMessage,
    headerPairs(upstreamRes.rawHeaders, HOP_BY_HOP),
  );
  await pipeline(upstreamRes, res);
}

/** Reads the whole answer, so the upstream has finished its side effect, then drops the client. */
async function lose(upstreamRes: IncomingMessage, res: ServerResponse): Promise<void> {
  await finished(upstreamRes.resume());
  drop(res);
}

/** Rewriting needs the whole body in memory: only small, unencoded answers of known length qualify. */
const MAX_REWRITE_BYTES = 1024 * 1024;

/** Makes a Route 53 GetChange answer say the change is still PENDING. Other answers are relayed as they are. */
async function rewritePending(upstreamRes: IncomingMessage, res: ServerResponse): Promise<void> {
  const length = Number(upstreamRes.headers['content-length']);
  const encoding = upstreamRes.headers['content-encoding'] ?? 'identity';
  if (!(length <= MAX_REWRITE_BYTES) || encoding !== 'identity') return relay(upstreamRes, res);
  const text = (await buffer(upstreamRes)).toString('utf8');
  const body = Buffer.from(text.replaceAll('<Status>INSYNC</Status>', '<Status>PENDING</Status>'));
  res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, [
    ...headerPairs(upstreamRes.rawHeaders, HOP_BY_HOP_AND_LENGTH),
    'Content-Length',
    String(body.length),
  ]);
  res.end(body);
}

const ANSWER_HANDLERS: Record<
  AnswerHandling,
  (upstreamRes: IncomingMessage, res: ServerResponse) => Promise<void>
> = {
  relay,
  lose,
  'rewrite-pending': rewritePending,
};
