import {
  capsDefaults,
  monitorDefaults,
  regionControlDefaults,
  sealDefaults,
  timestampWindowDefaults,
  type AppConfig,
} from './schema';

/** The regions of the embedded local world; the first is the one outage drills take down. */
export const LOCAL_REGIONS = ['us-east-1', 'us-west-2'] as const;

/**
 * Which server keeps the local stack's S3 objects: versitygw (an S3 gateway over a directory, so the dev
 * archive survives a restart) or moto (in memory, as before; it serves Route 53 either way).
 */
export const LOCAL_S3_SERVERS = ['versitygw', 'moto'] as const;
export type LocalS3Server = (typeof LOCAL_S3_SERVERS)[number];

export interface LocalStackPorts {
  temporal: number;
  temporalUi: number;
  moto: number;
  /**
   * versitygw serving LOCAL_REGIONS[i] listens on s3Base + i: it refuses requests signed for any region but
   * its own, so each region has a gateway of its own, all over one directory (one bucket namespace, as in AWS).
   */
  s3Base: number;
  /** The stats service of LOCAL_REGIONS[i] listens on statsBase + i. */
  statsBase: number;
  ingest: number;
  /** The fault proxy's control API; its listeners take the ports just above (see faultProxyListeners). */
  faultProxy: number;
}

export const DEV_PORTS: LocalStackPorts = {
  temporal: 7233,
  temporalUi: 8233,
  moto: 4566,
  s3Base: 4571,
  statsBase: 4601,
  ingest: 8080,
  faultProxy: 4610,
};

export interface FaultListener {
  name: string;
  port: number;
  upstream: string;
}

const loopback = (port: number): string => `http://127.0.0.1:${port}`;

/**
 * Every component reaches S3, the stats APIs and Route 53 through the fault proxy, one listener per service and
 * region (`s3-us-east-1`, `stats-us-east-1`, `route53`), so a test or an operator can fail exactly one of them.
 */
export function faultProxyListeners(
  ports: LocalStackPorts,
  s3: LocalS3Server = 'versitygw',
): FaultListener[] {
  return [
    ...LOCAL_REGIONS.map((r, i) => ({
      name: `s3-${r}`,
      port: ports.faultProxy + 1 + i,
      upstream: loopback(s3 === 'versitygw' ? ports.s3Base + i : ports.moto),
    })),
    ...LOCAL_REGIONS.map((r, i) => ({
      name: `stats-${r}`,
      port: ports.faultProxy + 11 + i,
      upstream: loopback(ports.statsBase + i),
    })),
    { name: 'route53', port: ports.faultProxy + 20, upstream: loopback(ports.moto) },
  ];
}

export const homeBucket = (region: string): string => `stormproof-archive-${region}`;
export const failoverBucket = (region: string): string => `stormproof-failover-${region}`;

/**
 * The configuration that points every component at a local stack on the given ports: each region archives to
 * its home bucket, then to its failover bucket, which lives in the next region of the ring.
 */
export function localStackConfig(ports: LocalStackPorts): AppConfig {
  const listener = new Map(faultProxyListeners(ports).map((l) => [l.name, loopback(l.port)]));
  return {
    temporal: {
      address: `127.0.0.1:${ports.temporal}`,
      namespace: 'default',
      taskQueue: 'stormproof',
      maxCachedWorkflows: 100,
    },
    aws: {
      // moto, for Route 53; every region's S3 has its own endpoint (s3Endpoint) below
      endpoint: loopback(ports.moto),
      // placeholders: the stack writes the credentials it generated for its S3 server into its configuration
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 3,
      connectTimeoutMs: 2000,
      requestTimeoutMs: 10_000,
    },
    route53: {
      endpoint: listener.get('route53'),
      hostedZoneName: 'stormproof.local',
      recordName: 'track.stormproof.local',
      ttl: 60,
    },
    // As large as ingest.maxBatchEvents: a full archive object goes to the stats API as one POST of its bytes.
    stats: { requestTimeoutMs: 10_000, chunkSize: 2000 },
    regions: LOCAL_REGIONS.map((name, i) => {
      const next = LOCAL_REGIONS[(i + 1) % LOCAL_REGIONS.length]!;
      return {
        name,
        archive: [
          { bucket: homeBucket(name), region: name },
          { bucket: failoverBucket(name), region: next },
        ],
        statsUrl: listener.get(`stats-${name}`)!,
        s3Endpoint: listener.get(`s3-${name}`),
        trackingTarget: `ingest.${name}.stormproof.local`,
      };
    }),
    ingest: {
      host: '127.0.0.1',
      port: ports.ingest,
      // Each object costs a PUT and a POST (about 1.6 ms of the ingest's CPU): at saturation, 2,000 rather than
      // 1,000 took 8-10% more events/s (docs/benchmarks.md). Light traffic seals smaller batches anyway.
      maxBatchEvents: 2000,
      maxBatchBytes: 1_000_000,
      // A batch seals at once when its partition is idle, else when the one in flight is durable or after
      // this: a sender waits at most this plus one PUT; shorter means more, smaller objects (PUTs).
      lingerMs: 50,
      sealWhenIdle: true,
      maxPendingEvents: 20_000,
      bodyLimitBytes: 10 * 1024 * 1024,
      handOverTimeoutMs: 5_000,
      archiveTimeoutMs: 5_000,
      timestampWindow: { ...timestampWindowDefaults },
      maxEventLoopDelayMs: 250,
    },
    archive: { captureInitialBackoffMs: 5_000, captureMaxBackoffMs: 300_000 },
    notifications: { timeoutMs: 5000, capturedBacklogThreshold: 100 },
    reconcile: {
      attemptBudget: 5,
      settleMs: 5_000,
      hoursPerSlice: 24,
      concurrency: 4,
      scheduleLagMinutes: 15,
      scheduleId: 'stormproof-reconcile-hourly',
      repairMaxEvents: 50_000,
    },
    regionControl: { ...regionControlDefaults },
    caps: { ...capsDefaults },
    seal: { ...sealDefaults },
    monitor: { ...monitorDefaults },
    log: { level: 'info' },
    faultProxy: { controlUrl: loopback(ports.faultProxy) },
  };
}
