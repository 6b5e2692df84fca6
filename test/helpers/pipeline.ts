import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { connectClient } from '../../src/client/connect';
import { EventSender } from '../../src/client/eventSender';
import type { AppConfig } from '../../src/config/schema';
import { readIngestCredentials } from '../../src/ingest/auth';
import { buildIngestServer } from '../../src/ingest/server';
import type { BatchStatus } from '../../src/shared/batch';
import type { TrackingEvent } from '../../src/shared/event';
import { createWorker } from '../../src/worker';
import { uniqueName } from './env';
import { workflowBundle } from './temporal';

export interface Pipeline {
  config: AppConfig;
  client: Client;
  sender: EventSender;
  ingest: FastifyInstance;
  ingestUrl: string;
  /** What a sender must add to its requests: the stack's ingest bearer token. */
  ingestHeaders: { authorization: string };
  /** Stops the in-process worker without grace for activities in flight (they are left to retry). */
  killWorker(): Promise<void>;
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Worker + ingest of the real code on the real test stack, on a task queue of this test's own, with the
 * capture backoff shortened so a test sees captured batches drain in seconds.
 */
export async function startPipeline(base: AppConfig, options: { worker?: boolean } = {}): Promise<Pipeline> {
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: uniqueName('archive-test') },
    // 1,000 rather than the stack's 2,000: the tests' requests of 1,500-5,000 events make several batches.
    ingest: { ...base.ingest, lingerMs: 50, maxBatchEvents: 1000 },
    archive: { captureInitialBackoffMs: 300, captureMaxBackoffMs: 1500 },
  };
  const { client, close } = await connectClient(config);
  const sender = new EventSender(client, config);
  if (!config.ingestAuth) throw new Error('the test stack configures no ingestAuth');
  const credentials = readIngestCredentials(config.ingestAuth);
  const token = credentials.tokens[0];
  if (!token) throw new Error('the pipeline sends with a bearer token: configure ingestAuth.tokens');
  const ingest = buildIngestServer({
    sender,
    credentials,
    bodyLimitBytes: config.ingest.bodyLimitBytes,
    logLevel: 'warn',
  });
  const ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });

  let running: { stop: () => Promise<void> } | undefined;
  const startWorker = async (): Promise<void> => {
    const w = await createWorker({ config, workflowBundle: await workflowBundle(), shutdownGraceSeconds: 0 });
    const run = w.worker.run();
    running = {
      stop: async () => {
        w.worker.shutdown();
        await run;
        await w.close();
      },
    };
  };
  const killWorker = async (): Promise<void> => {
    await running?.stop();
    running = undefined;
  };
  // A test that runs the worker as a process of its own (to SIGKILL it) starts none here.
  if (options.worker ?? true) await startWorker();
  return {
    config,
    client,
    sender,
    ingest,
    ingestUrl,
    ingestHeaders: { authorization: `Bearer ${token.value}` },
    killWorker,
    startWorker,
    async stop() {
      await ingest.close();
      await sender.close();
      await killWorker();
      await close();
    },
  };
}

/**
 * Events in an hour of their own (a random hour between 2030 and 2090), so the stats buckets and archive
 * partitions a test reads hold nothing of any other test.
 */
export function makeEvents(n: number, region = 'us-east-1', prefix = uniqueName('ev')): TrackingEvent[] {
  const hour = Date.UTC(2030, 0, 1) + Math.floor(Math.random() * 60 * 365 * 24) * 3_600_000;
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    type: i % 10 === 0 ? 'conversion' : 'click',
    timestamp: new Date(hour + ((i * 997) % 3_600_000)).toISOString(),
    region,
    offerId: `offer-${i % 17}`,
    affiliateId: `aff-${i % 5}`,
    attributes: {
      ip: '203.0.113.7',
      ua: 'Mozilla/5.0 (X11; Linux x86_64)',
      revenue: i % 10 === 0 ? 1.25 : null,
    },
  }));
}

/** A closed hour no other test uses (2001-2020, at random), for tests that need an hour already over. */
export const randomPastHourMs = (): number =>
  Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 20 * 365 * 24) * 3_600_000;

/** makeEvents in the hour that starts at `hourMs`, its minutes spread as makeEvents spreads them. */
export function makeEventsInHour(
  n: number,
  hourMs: number,
  region = 'us-east-1',
  prefix = uniqueName('ev'),
): TrackingEvent[] {
  return makeEvents(n, region, prefix).map((e) => ({
    ...e,
    timestamp: new Date(hourMs + (Date.parse(e.timestamp) % 3_600_000)).toISOString(),
  }));
}

export interface IngestAnswer {
  accepted: number;
  rejected?: { index: number; field: string; reason: string }[];
  batches?: { batchId: string; events: number; archived?: string; captureWorkflowId?: string }[];
  notAccepted?: number[];
  error?: string;
  message?: string;
}

/** POSTs a body to the ingest endpoint and returns its status and JSON answer. */
export async function postEvents(
  p: Pick<Pipeline, 'ingestUrl' | 'ingestHeaders'>,
  body: string,
  contentType = 'application/x-ndjson',
): Promise<{ status: number; body: IngestAnswer }> {
  const res = await fetch(`${p.ingestUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...p.ingestHeaders },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: (await res.json()) as IngestAnswer };
}

/** The captureBatch workflows of an ingest answer (batches S3 did not take on the fast path). */
export const capturedIds = (answer: IngestAnswer): string[] =>
  (answer.batches ?? []).flatMap((b) => (b.captureWorkflowId ? [b.captureWorkflowId] : []));

/** Waits for every captured batch of an ingest answer to finish and returns their final statuses. */
export function settled(client: Client, answer: IngestAnswer): Promise<BatchStatus[]> {
  return Promise.all(
    capturedIds(answer).map((id) => client.workflow.getHandle(id).result() as Promise<BatchStatus>),
  );
}

export const ndjson = (records: unknown[]): string => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
