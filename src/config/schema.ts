import { z } from 'zod';
import {
  bearerTokensSchema,
  encryptionSchema,
  ingestAuthSchema,
  metricsSchema,
  namedSecretSchema,
} from './securitySchema';

const regionName = z
  .string()
  .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region name such as us-east-1');
const bucketName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    'must be a valid S3 bucket name (3-63 lowercase letters, digits, . and -)',
  );
const url = z.url({ protocol: /^https?$/ });

/** One place events of a region may be archived to; the first healthy one in a region's list wins. */
const archiveTargetSchema = z.object({
  bucket: bucketName,
  /** The AWS region the bucket lives in (a failover bucket lives in another region than the events' origin). */
  region: regionName,
});

const regionSchema = z.object({
  name: regionName,
  /** Ordered archive targets: the home bucket first, then failover buckets in other regions. */
  archive: z.array(archiveTargetSchema).min(1),
  /** Stats API of this region (the reference stats service on the local stack). */
  statsUrl: url,
  statsToken: z.string().min(1).optional(),
  /** S3 endpoint override for clients of this region, e.g. the local fault proxy; unset means `aws.endpoint`. */
  s3Endpoint: url.optional(),
  /** The value of this region's weighted tracking record (where Route 53 sends this region's share). */
  trackingTarget: z.string().min(1),
  /** This region's ingest `/v1/routing-health` URL, the target of its Route 53 health check (optional). */
  routingHealthUrl: url.optional(),
});

const tlsSchema = z.object({
  clientCertPath: z.string().min(1).optional(),
  clientKeyPath: z.string().min(1).optional(),
  serverCaCertPath: z.string().min(1).optional(),
  serverName: z.string().min(1).optional(),
});

export const capsDefaults = {
  registryWorkflowId: 'cap-registry',
  /** Whether the ingest judges events against the caps (it reads the registry in the background). */
  enforce: true,
  /** How often the ingest re-reads the cap definitions (a changed limit reaches the ledger with its next top-up). */
  refreshMs: 10_000,
  /** A grant's lease: an ingest cut off from Temporal spends what it holds for at most this long. */
  leaseMs: 60_000,
  /** Part of the lease the holder gives up against clock drift: it stops spending this much earlier. */
  leaseMarginMs: 5_000,
  /** Each top-up asks for this share of the limit (at least 1): larger is fewer Updates, smaller strands less. */
  grantFraction: 0.05,
  /** Every Update to a ledger gives up after this long (the holder goes on from what it holds). */
  updateTimeoutMs: 5_000,
  /** A request whose events find no allowance waits at most this long in all for top-ups, then they are exceeded. */
  waitForAllowanceMs: 1_000,
  /** Judgements remembered by event ID, so a resent event is judged the same and spends once. */
  rememberEvents: 100_000,
  /** After a lease ends, how long its batches may still be landing before the archive counts its spend. */
  reclaimAfterMs: 60_000,
};

export const regionControlDefaults = {
  workflowId: 'region-control',
  targetCacheMs: 2000,
  queryTimeoutMs: 2000,
  approvalTimeoutMs: 900_000,
};

/** A week back (late mobile and offline conversions), an hour ahead (clock skew). */
export const timestampWindowDefaults = { maxAgeMs: 7 * 24 * 3_600_000, maxFutureMs: 3_600_000 };

export const sealDefaults = {
  /** Minutes after an hour closes before its Schedule seals it: batches in flight or briefly captured land. */
  lagMinutes: 15,
  /** Each region's Schedule is `<scheduleIdPrefix>-<region>`. */
  scheduleIdPrefix: 'stormproof-seal-hourly',
  /**
   * Raw (gzip) bytes of the hour per shard: a version is split into ceil(bytes / shardBytes) shards, each an
   * activity whose memory grows with its share of the hour, not with the hour (docs/operations.md).
   */
  shardBytes: 16 * 1024 * 1024,
  /** Shards of one seal running at once (over all workers). */
  shardConcurrency: 4,
  /** Shards one worker process runs at once (the others it was given wait): its memory is that many shards'. */
  shardsPerWorker: 1,
  /** Hours a scheduled seal looks back for late raw objects: the default ingest window, 7 days. */
  lateSweepHours: 7 * 24,
};

export const monitorDefaults = {
  workflowId: 'region-health-monitor',
  /** `approve` (default): a region going down starts a failover that waits for an operator; `auto`: it runs. */
  policy: 'approve' as 'approve' | 'auto',
  downAfterFailures: 3,
  upAfterSuccesses: 3,
  intervalMs: 10_000,
};

export const configSchema = z
  .object({
    temporal: z.object({
      address: z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port'),
      namespace: z.string().min(1),
      taskQueue: z.string().min(1),
      /** Temporal Cloud API key; implies TLS. */
      apiKey: z.string().min(1).optional(),
      /** `true` for TLS with system roots, an object for mTLS or a private CA, absent for plaintext (dev server). */
      tls: z.union([z.boolean(), tlsSchema]).optional(),
      /**
       * Workflows a worker keeps in memory between tasks. An evicted one replays its history on its next task:
       * cap ledgers take an Update every top-up, so size it above the live ledgers (caps × windows open);
       * a cached captured batch holds its archive object, so during an outage it bounds that memory too.
       */
      maxCachedWorkflows: z.number().int().min(1).default(100),
    }),
    aws: z.object({
      /** Endpoint of every AWS service that has none of its own (the local stack's moto); unset means real AWS. */
      endpoint: url.optional(),
      /** Static credentials for the local stack only; unset means the standard AWS credential chain. */
      credentials: z
        .object({
          accessKeyId: z.string().min(1),
          /** The key itself (a throwaway emulator's), or where to read it (a file the local stack generated). */
          secretAccessKey: z.union([z.string().min(1), namedSecretSchema]),
        })
        .optional(),
      maxAttempts: z.number().int().min(1).max(10),
      connectTimeoutMs: z.number().int().positive(),
      requestTimeoutMs: z.number().int().positive(),
    }),
    route53: z.object({
      endpoint: url.optional(),
      hostedZoneName: z.string().min(1),
      /** The tracking hostname whose weighted records shift traffic between regions. */
      recordName: z.string().min(1),
      ttl: z.number().int().min(0).max(86400),
    }),
    stats: z.object({
      requestTimeoutMs: z.number().int().positive(),
      chunkSize: z.number().int().min(1).max(5000),
    }),
    regions: z
      .array(regionSchema)
      .min(1)
      .superRefine((regions, ctx) => {
        const seen = new Set<string>();
        regions.forEach((r, i) => {
          if (seen.has(r.name))
            ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `region ${r.name} is listed twice` });
          seen.add(r.name);
        });
      }),
    ingest: z.object({
      /** The region this ingest serves: enables `/v1/routing-health`, which answers 503 while it is drained. */
      region: regionName.optional(),
      host: z.string().min(1),
      port: z.number().int().min(0).max(65535),
      /**
       * A batch is handed over when it reaches this many events or bytes, when its partition has no batch in
       * flight (sealWhenIdle), or when it has waited lingerMs.
       */
      maxBatchEvents: z.number().int().min(1).max(5000),
      maxBatchBytes: z.number().int().min(1024).max(1_500_000),
      lingerMs: z.number().int().min(0).max(60_000),
      /** Group commit (see BatchLimits.sealWhenIdle); off, every batch waits its whole linger. */
      sealWhenIdle: z.boolean().default(true),
      /** Events accepted for hand-over but not yet durable; past this, senders get 503 instead of a queue. */
      maxPendingEvents: z.number().int().min(1),
      bodyLimitBytes: z.number().int().min(1024),
      /** How long starting a captureBatch workflow may take before Temporal counts as refusing the batch. */
      handOverTimeoutMs: z.number().int().positive(),
      /**
       * How long the fast path may try the region's buckets for one batch (each PUT also has aws.requestTimeoutMs)
       * before the batch is handed to a captureBatch workflow instead.
       */
      archiveTimeoutMs: z.number().int().positive().default(5_000),
      /**
       * Event timestamps accepted, relative to the ingest's clock: an event older than maxAgeMs or further than
       * maxFutureMs ahead is refused with a reason (its hour would never be reconciled or sealed on time).
       */
      timestampWindow: z
        .object({ maxAgeMs: z.number().int().positive(), maxFutureMs: z.number().int().positive() })
        .default(timestampWindowDefaults),
      /**
       * Event-loop delay (mean over 250 ms) past which POST /v1/events is refused with 503 before its body is
       * parsed: a saturated process sheds load instead of letting requests queue for seconds. 0 disables.
       */
      maxEventLoopDelayMs: z.number().int().min(0).default(250),
      /**
       * V8 heap in use (bytes) past which POST /v1/events is refused with 503 before its body is read, so
       * overload never runs the process into its heap limit. 0 disables; absent: 3/4 of the heap limit.
       */
      maxHeapUsedBytes: z.number().int().min(0).optional(),
    }),
    archive: z.object({
      /** First wait of a captured batch; it doubles up to captureMaxBackoffMs. */
      captureInitialBackoffMs: z.number().int().positive(),
      captureMaxBackoffMs: z.number().int().positive(),
    }),
    notifications: z.object({
      /** Slack-compatible incoming webhook for region down/up, failover and backlog alerts; unset: logs only. */
      webhookUrl: url.optional(),
      timeoutMs: z.number().int().positive(),
      /** Captured batches above which operators are alerted. */
      capturedBacklogThreshold: z.number().int().positive(),
    }),
    reconcile: z.object({
      /** Replay rounds per hour bucket before a run gives up on it, fails and alerts. */
      attemptBudget: z.number().int().min(1).max(100),
      /** Wait after replaying before comparing again, so the stats pipeline has settled. */
      settleMs: z.number().int().min(0).max(3_600_000),
      /** Hours of a window handled as one slice (compare, repair, settle); bounds each slice's history. */
      hoursPerSlice: z.number().int().min(1).max(168),
      /** Hour buckets repaired in parallel. */
      concurrency: z.number().int().min(1).max(32),
      /** The schedule reconciles each hour once it has been closed this long (late events, settling). */
      scheduleLagMinutes: z.number().int().min(0).max(1440),
      /** ID of the Temporal Schedule `stormproof reconcile-schedule` creates or updates. */
      scheduleId: z.string().min(1),
      /**
       * Events one repairHour holds decoded at once: a larger hour is repaired a group of minutes at a time,
       * reading its sources once per group. A worker holds up to `concurrency` times this (~1 KB an event).
       */
      repairMaxEvents: z.number().int().min(1).default(50_000),
    }),
    /** The sealed hour's Schedules (`stormproof seal-schedule`): one per region, each hour `lagMinutes` after it closes. */
    seal: z
      .object({
        lagMinutes: z.number().int().min(0).max(1440),
        scheduleIdPrefix: z.string().min(1),
        // Defaults of their own: configuration files written before sharding stay valid.
        shardBytes: z.number().int().min(1).default(sealDefaults.shardBytes),
        shardConcurrency: z.number().int().min(1).max(64).default(sealDefaults.shardConcurrency),
        shardsPerWorker: z.number().int().min(1).max(16).default(sealDefaults.shardsPerWorker),
        /**
         * Hours after an hour closes before its raw objects are deleted (once a verified seal holds them; the
         * manifest says so). Absent: raw objects are kept for ever.
         */
        retainRawHours: z.number().int().min(0).optional(),
        /**
         * Hours before the one it seals that a scheduled run checks for late raw objects (at most the ingest's
         * timestampWindow.maxAgeMs): two LISTs an hour. Older late objects wait for `stormproof seal`.
         */
        lateSweepHours: z
          .number()
          .int()
          .min(0)
          .max(24 * 90)
          .default(sealDefaults.lateSweepHours),
      })
      .default(sealDefaults),
    /** regionHealthMonitor: probes each region, declares it down/up with hysteresis, and acts on it. */
    monitor: z
      .object({
        workflowId: z.string().min(1),
        policy: z.enum(['approve', 'auto']),
        downAfterFailures: z.number().int().min(1).max(100),
        upAfterSuccesses: z.number().int().min(1).max(100),
        intervalMs: z.number().int().min(100).max(3_600_000),
      })
      .default(monitorDefaults),
    /** The regionControl entity workflow: where the archive's ordered targets and failovers live. */
    regionControl: z
      .object({
        workflowId: z.string().min(1),
        /** How long a worker keeps the archive order it read from regionControl: a redirect's worst-case delay. */
        targetCacheMs: z.number().int().min(0).max(60_000),
        /** How long a worker waits for regionControl to answer before it keeps the order it knows. */
        queryTimeoutMs: z.number().int().positive().max(30_000),
        /** How long an operation waits at the approval gate before it aborts. */
        approvalTimeoutMs: z.number().int().positive(),
      })
      .default(regionControlDefaults),
    /** Cap enforcement (issue 15): the registry workflow that holds the cap definitions. */
    caps: z
      .object({
        registryWorkflowId: z.string().min(1).default(capsDefaults.registryWorkflowId),
        enforce: z.boolean().default(capsDefaults.enforce),
        refreshMs: z.number().int().positive().max(30_000).default(capsDefaults.refreshMs),
        leaseMs: z.number().int().positive().default(capsDefaults.leaseMs),
        leaseMarginMs: z.number().int().min(0).default(capsDefaults.leaseMarginMs),
        grantFraction: z.number().positive().max(1).default(capsDefaults.grantFraction),
        updateTimeoutMs: z.number().int().positive().max(60_000).default(capsDefaults.updateTimeoutMs),
        waitForAllowanceMs: z.number().int().min(0).max(30_000).default(capsDefaults.waitForAllowanceMs),
        rememberEvents: z.number().int().positive().default(capsDefaults.rememberEvents),
        reclaimAfterMs: z.number().int().min(0).default(capsDefaults.reclaimAfterMs),
      })
      .refine((c) => c.leaseMarginMs < c.leaseMs, {
        message: 'leaseMarginMs must be shorter than leaseMs',
        path: ['leaseMarginMs'],
      })
      .default(capsDefaults),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']) }),
    /** Local stack only: the fault proxy that sits in front of every region's S3, stats API and Route 53. */
    faultProxy: z.object({ controlUrl: url }).optional(),
    /** Payload encryption; absent means payloads are only compressed (the worker and ingest warn). */
    encryption: encryptionSchema.optional(),
    /** Who may send events; the ingest refuses to start without it. */
    ingestAuth: ingestAuthSchema.optional(),
    /** Who may manage cap definitions over HTTP (the ingest's /v1/caps); absent: those routes are not served. */
    capsApi: bearerTokensSchema.optional(),
    /** Who may decode payloads through the codec server; it refuses to start without it. */
    codecServer: bearerTokensSchema.optional(),
    metrics: metricsSchema.optional(),
  })
  .strict();

export type AppConfig = z.output<typeof configSchema>;
export type RegionConfig = AppConfig['regions'][number];
export type ArchiveTarget = RegionConfig['archive'][number];
