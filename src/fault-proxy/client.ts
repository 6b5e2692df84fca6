import type { FaultInput } from './faults';
import type { ListenerStatus } from './listener';

/** A refusal or failure of the control API, with its HTTP status (0 when there was no answer). */
export class FaultProxyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FaultProxyError';
  }
}

/** Typed client of the fault proxy's control API, e.g. for tests that break one region's S3. */
export class FaultProxyClient {
  private readonly baseUrl: string;

  constructor(
    controlUrl: string,
    private readonly timeoutMs = 5000,
  ) {
    this.baseUrl = controlUrl.replace(/\/+$/, '');
  }

  async list(): Promise<ListenerStatus[]> {
    return (await this.call<{ listeners: ListenerStatus[] }>('GET', '/listeners')).listeners;
  }

  setFault(listener: string, fault: FaultInput): Promise<ListenerStatus> {
    return this.call('PUT', `/listeners/${encodeURIComponent(listener)}/fault`, fault);
  }

  clear(listener: string): Promise<ListenerStatus> {
    return this.call('DELETE', `/listeners/${encodeURIComponent(listener)}/fault`);
  }

  async clearAll(): Promise<ListenerStatus[]> {
    return (await this.call<{ listeners: ListenerStatus[] }>('DELETE', '/faults')).listeners;
  }

  /** The proxy's own API: its answers are trusted to have the documented shape. */
  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const what = `${method} ${this.baseUrl}${path}`;
    let status: number;
    let text: string;
    try {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      throw new FaultProxyError(0, `${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (status < 200 || status >= 300) {
      let reason = text;
      try {
        reason = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // Not JSON (e.g. something else listens on that port): quote the body as it is.
      }
      throw new FaultProxyError(status, `${what}: ${status} ${reason}`);
    }
    return JSON.parse(text) as T;
  }
}
