import { FaultProxyClient, startFaultProxy, type FaultProxy } from '../../src/fault-proxy';
import type { AppConfig } from '../../src/config/schema';
import { createLogger } from '../../src/util/logger';

export interface PrivateFaults {
  /**
   * The configuration with every region's S3 and stats API, and Route 53, behind this test's own listeners;
   * its `faultProxy.controlUrl` is this proxy's.
   */
  config: AppConfig;
  proxy: FaultProxyClient;
  controlUrl: string;
  close(): Promise<void>;
}

const originOf = (url: string): string => new URL(url).origin;

/**
 * A fault proxy of this test's own (the stack's code, on free ports) in front of the stack's S3 and stats
 * listeners: a test can fail a whole region's S3 without touching the shared stack that other test files run
 * against at the same time. Listener names are the stack's: s3-<region>, stats-<region>, route53. The shared
 * proxy holds one fault per listener, so a test that set one there could undo another file's.
 */
export async function privateFaults(base: AppConfig): Promise<PrivateFaults> {
  const listeners = base.regions.flatMap((r) => [
    { name: `s3-${r.name}`, port: 0, upstream: originOf(r.s3Endpoint ?? base.aws.endpoint!) },
    { name: `stats-${r.name}`, port: 0, upstream: originOf(r.statsUrl) },
  ]);
  listeners.push({
    name: 'route53',
    port: 0,
    upstream: originOf(base.route53.endpoint ?? base.aws.endpoint!),
  });
  const running: FaultProxy = await startFaultProxy({
    controlPort: 0,
    listeners,
    // as the stack's proxy: a silent upstream becomes a 502 before the clients' own timeouts
    upstreamTimeoutMs: 8000,
    logger: createLogger('fault-proxy', 'warn'),
  });
  const config: AppConfig = {
    ...base,
    route53: { ...base.route53, endpoint: running.listeners.route53 },
    faultProxy: { controlUrl: running.controlUrl },
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
