import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { drop, faultAnswer, sendError } from './answers';
import { activate, appliesTo, PASS, type ActiveFault, type Fault } from './faults';
import { forward, type UpstreamTarget } from './forward';

export interface ListenerSpec {
  /** e.g. s3-us-east-1; used in the control API's paths. */
  name: string;
  /** 0 picks a free port. */
  port: number;
  /** http://host:port the listener forwards to. */
  upstream: string;
}

export interface ListenerCounters {
  /** Every request received. */
  requests: number;
  /** Requests sent on to the upstream, faulted ones (latency, lose-answer, rewrite-pending) included. */
  forwarded: number;
  /** Requests a fault other than pass applied to. */
  faulted: number;
  /** Forwarded requests answered 502 because the upstream could not be reached or stayed silent. */
  upstreamErrors: number;
}

export interface ListenerStatus {
  name: string;
  url: string;
  upstream: string;
  fault: Fault;
  /** How many more requests a counted fault applies to; null when unlimited. */
  remaining: number | null;
  counters: ListenerCounters;
}

/** Free upstream sockets are closed after this long, before a typical server-side keep-alive timeout. */
const UPSTREAM_IDLE_SOCKET_MS = 4_000;
/** Longer than clients keep idle sockets, so a client rarely reuses a connection the proxy is closing. */
const CLIENT_KEEP_ALIVE_MS = 65_000;

export function httpUrl(server: Server): string {
  const { address, family, port } = server.address() as AddressInfo;
  return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
}

/** One (service, region) listener: forwards to its upstream, or applies the fault currently set. */
export class FaultListener {
  readonly name: string;
  private active: ActiveFault = activate(PASS);
  private readonly counters: ListenerCounters = { requests: 0, forwarded: 0, faulted: 0, upstreamErrors: 0 };
  /** Requests held unanswered by `hang`. */
  private readonly held = new Set<ServerResponse>();
  private readonly target: UpstreamTarget;
  private readonly server: Server;
  private readonly log: Logger;

  constructor(spec: ListenerSpec, upstreamTimeoutMs: number, log: Logger) {
    this.name = spec.name;
    this.log = log;
    this.target = {
      listener: spec.name,
      origin: new URL(spec.upstream),
      agent: new Agent({ keepAlive: true, timeout: UPSTREAM_IDLE_SOCKET_MS }),
      timeoutMs: upstreamTimeoutMs,
      stats: this.counters,
      log,
    };
    this.server = createServer({
      keepAliveTimeout: CLIENT_KEEP_ALIVE_MS,
      // Timeouts are the client's and the upstream's business; `hang` must be able to hold a request forever.
      requestTimeout: 0,
    });
    this.server.on('request', this.handle);
    // Without this handler Node would answer 100 Continue itself; forward() relays the upstream's instead.
    this.server.on('checkContinue', this.handle);
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get url(): string {
    return httpUrl(this.server);
  }

  setFault(fault: Fault): ListenerStatus {
    this.active = activate(fault);
    // Held requests never reached the upstream; resetting them lets their clients retry now.
    for (const res of this.held) drop(res);
    return this.status();
  }

  status(): ListenerStatus {
    return {
      name: this.name,
      url: this.url,
      upstream: this.target.origin.origin,
      fault: this.active.fault,
      remaining: this.active.remaining ?? null,
      counters: { ...this.counters },
    };
  }

  /** Stops listening and cuts every connection, held and in-flight ones included. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve, reject) =>
      this.server.close((err) => (err ? reject(err) : resolve())),
    );
    this.server.closeAllConnections();
    this.target.agent.destroy();
    await closed;
  }

  private readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.counters.requests++;
    const fault = this.take(req.method ?? 'GET', req.url ?? '/');
    if (fault.mode !== 'pass') {
      this.counters.faulted++;
      this.log.info(
        { listener: this.name, mode: fault.mode, method: req.method, url: req.url },
        'fault applied',
      );
    }
    switch (fault.mode) {
      case 'pass':
        return forward(this.target, req, res, 'relay');
      case 'error':
        return sendError(res, faultAnswer(fault, this.name));
      case 'reset':
        return drop(res);
      case 'hang':
        this.held.add(res);
        res.on('close', () => this.held.delete(res));
        return;
      case 'latency': {
        const timer = setTimeout(() => forward(this.target, req, res, 'relay'), fault.latencyMs);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case 'lose-answer':
        return forward(this.target, req, res, 'lose');
      case 'rewrite-pending':
        return forward(this.target, req, res, 'rewrite-pending');
    }
  };

  /** The fault for this request, counting it against a limited fault's budget. */
  private take(method: string, url: string): Fault {
    const active = this.active;
    if (!appliesTo(active, method, url)) return PASS;
    if (active.remaining !== undefined && --active.remaining === 0) this.active = activate(PASS);
    return active.fault;
  }
}
