import type { Logger } from 'pino';
import { z } from 'zod';
import { createLogger } from '../util/logger';
import { buildControlApi } from './control';
import { describeIssues } from './faults';
import { FaultListener, httpUrl, type ListenerSpec } from './listener';

export interface FaultProxyOptions {
  /** Interface of the control API and every listener; default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port (for this and every listener port). */
  controlPort: number;
  listeners: ListenerSpec[];
  /** Longest silence on an upstream call before the client gets a 502; default 30 s. */
  upstreamTimeoutMs?: number;
  logger?: Logger;
}

export interface FaultProxy {
  controlUrl: string;
  /** Listener name → its URL, the endpoint the clients of that (service, region) use. */
  listeners: Record<string, string>;
  close(): Promise<void>;
}

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;

function isHttpOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return url.protocol === 'http:' && url.pathname === '/' && !url.search && !url.username;
}

const port = z.number().int().min(0).max(65_535);

const optionsSchema = z.object({
  host: z.string().min(1).optional(),
  controlPort: port,
  listeners: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits, ".", "_" or "-"'),
        port,
        upstream: z
          .string()
          .refine(isHttpOrigin, 'must be an http:// origin without a path, e.g. http://127.0.0.1:4566'),
      }),
    )
    .nonempty()
    .refine((ls) => new Set(ls.map((l) => l.name)).size === ls.length, 'listener names must be unique'),
  upstreamTimeoutMs: z.number().int().positive().optional(),
});

/** Starts every listener and the control API; resolves once all listen, or fails having closed what started. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`invalid fault proxy options: ${describeIssues(parsed.error)}`);
  const host = options.host ?? '127.0.0.1';
  const log = options.logger ?? createLogger('fault-proxy');
  const timeoutMs = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;

  const listeners = new Map<string, FaultListener>();
  const control = buildControlApi(listeners, log);
  const closeAll = async (): Promise<void> => {
    await control.close();
    await Promise.all([...listeners.values()].map((l) => l.close()));
  };
  try {
    for (const spec of options.listeners) {
      const listener = new FaultListener(spec, timeoutMs, log);
      await listener.listen(host, spec.port);
      listeners.set(spec.name, listener);
    }
    await control.listen({ host, port: options.controlPort });
  } catch (err) {
    await closeAll();
    throw err;
  }
  return {
    controlUrl: httpUrl(control.server),
    listeners: Object.fromEntries([...listeners.values()].map((l) => [l.name, l.url])),
    close: closeAll,
  };
}
