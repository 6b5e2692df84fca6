import { FaultProxyClient, startFaultProxy, type FaultProxy } from '../../src/fault-proxy';
import type { AppConfig } from '../../src/config/schema';
import { createLogger } from '../../src/util/logger';

export interface PrivateFaults {
  /** The configuration with every region's S3 and stats API behind this test's own listeners. */
  config: AppConfig;
  proxy: FaultProxyClient;
  controlUrl: string;
  close(): Promise<void>;
}

const originOf = (url: string): string => new URL(url).origin;

/**
 * A fault proxy of this test's own (the stack's code, on free ports) in front of the stack's S3 and stats
 * listeners: a test can fail a whole region's S3 without touching the shared stack that other test files run
 * against at the same time. Listener names are the stack's: s3-<region>, stats-<region>.
 */
export async function privateFaults(base: AppConfig): Promise<PrivateFaults> {
  const listeners = base.regions.flatMap((r) => [
    { name: `s3-${r.name}`, port: 0, upstream: originOf(r.s3Endpoint ?? base.aws.endpoint!) },
    { name: `stats-${r.name}`, port: 0, upstream: originOf(r.statsUrl) },
  ]);
  const running: FaultProxy = await startFaultProxy({
    controlPort: 0,
    listeners,
    // as the stack's proxy: a silent upstream becomes a 502 before the clients' own timeouts
    upstreamTimeoutMs: 8000,
    logger: createLogger('fault-proxy', 'warn'),
  });
  const config: AppConfig = {
    ...base,
    regions: base.regions.map((r) => ({
      ...r,
      s3Endpoint: running.listeners[`s3-${r.name}`],
      statsUrl: running.listeners[`stats-${r.name}`]!,
    })),
  };
  return {
    config,
    proxy: new FaultProxyClient(running.controlUrl),
    controlUrl: running.controlUrl,
    close: () => running.close(),
  };
}
