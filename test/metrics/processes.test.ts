import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { connectClient } from '../../src/client/connect';
import type { AppConfig } from '../../src/config/schema';
import { readSecret } from '../../src/config/secrets';
import { retryNowSignal } from '../../src/shared/messages';
import {
  INGEST_NODE_FLAGS,
  WORKER_NODE_FLAGS,
  startNodeProcess,
  stopProcess,
} from '../../src/stack/nodeProcess';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEvents, ndjson } from '../helpers/pipeline';
import { unusedPort } from '../helpers/ports';
import { privateFaults, type PrivateFaults } from '../helpers/privateFaults';
import { scrape } from '../helpers/prometheus';

/**
 * The worker and ingest processes as deployed (their `main`s, a config file, metrics on), driven through the
 * ingest: their /metrics endpoints expose the project's series and the SDK runtime's, and they move.
 */
describe('metrics and logs of the worker and ingest processes', () => {
  let config: AppConfig;
  let worker: ChildProcess;
  let ingest: ChildProcess;
  let ingestUrl: string;
  let token: string;
  let urls: { ingest: string; worker: string; sdk: string };
  let client: Awaited<ReturnType<typeof connectClient>>;
  let logs = '';
  let own: PrivateFaults;

  beforeAll(async () => {
    // S3 fails behind a fault proxy of this file's own: the shared one holds one fault per listener.
    own = await privateFaults(testConfig());
    const base = own.config;
    const [ingestPort, ingestMetrics, workerMetrics, workerSdk] = await Promise.all(
      [0, 1, 2, 3].map(() => unusedPort()),
    );
    config = {
      ...base,
      temporal: { ...base.temporal, taskQueue: uniqueName('metrics-test') },
      ingest: { ...base.ingest, port: ingestPort!, lingerMs: 50 },
      archive: { captureInitialBackoffMs: 300, captureMaxBackoffMs: 1500 },
      metrics: {
        host: '127.0.0.1',
        ingestPort: ingestMetrics!,
        workerPort: workerMetrics!,
        workerSdkPort: workerSdk!,
      },
      // As chatty as it gets, so the no-secrets check below sees every line the processes can write.
      log: { level: 'debug' },
    };
    const configPath = join(mkdtempSync(join(tmpdir(), 'stormproof-metrics-')), 'config.json');
    writeFileSync(configPath, JSON.stringify(config));
    ingestUrl = `http://127.0.0.1:${ingestPort}`;
    urls = {
      ingest: `http://127.0.0.1:${ingestMetrics}/metrics`,
      worker: `http://127.0.0.1:${workerMetrics}/metrics`,
      sdk: `http://127.0.0.1:${workerSdk}/metrics`,
    };
    token = readSecret(config.ingestAuth!.tokens![0]!).value;
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    const env = { STORMPROOF_CONFIG: configPath, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    worker = startNodeProcess('src/worker.ts', env, out, WORKER_NODE_FLAGS);
    ingest = startNodeProcess('src/ingest/main.ts', env, out, INGEST_NODE_FLAGS);
    client = await connectClient(config);
    const up = await waitUntil(async () => {
      try {
        await Promise.all([scrape(urls.ingest), scrape(urls.worker), scrape(urls.sdk)]);
        return (await fetch(`${ingestUrl}/v1/health`, { signal: AbortSignal.timeout(1000) })).ok;
      } catch {
        return false;
      }
    }, 60_000);
    if (!up) throw new Error(`worker or ingest did not come up:\n${logs.slice(-3000)}`);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([ingest && stopProcess(ingest), worker && stopProcess(worker)]);
    await client?.close();
    await own?.close();
  });

  type Batch = { batchId: string; archived?: string; captureWorkflowId?: string };
  const send = async (events: unknown[]): Promise<Batch[]> => {
    const res = await fetch(`${ingestUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token}` },
      body: ndjson(events),
      signal: AbortSignal.timeout(30_000),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { batches: Batch[] }).batches;
  };

  it('counts accepted, archived and delivered events of the fast path', async () => {
    const before = { ingest: await scrape(urls.ingest), worker: await scrape(urls.worker) };
    const home = config.regions[0]!.archive[0]!.bucket;
    const batches = await send(makeEvents(40, 'us-east-1'));
    const delivered = () =>
      scrape(urls.ingest).then((m) =>
        m.value('stormproof_ingest_delivery_events_total', { outcome: 'delivered' }),
      );
    const base = before.ingest.value('stormproof_ingest_delivery_events_total', { outcome: 'delivered' });
    expect(await waitUntil(async () => (await delivered()) - base === 40, 30_000, 100)).toBe(true);

    const after = { ingest: await scrape(urls.ingest), worker: await scrape(urls.worker) };
    const delta = (name: string, which: 'ingest' | 'worker', labels?: Record<string, string>): number =>
      after[which].value(name, labels) - before[which].value(name, labels);
    expect(delta('stormproof_ingest_events_accepted_total', 'ingest')).toBe(40);
    expect(delta('stormproof_ingest_requests_total', 'ingest', { route: '/v1/events', status: '200' })).toBe(
      1,
    );
    // Latency histograms: one request answered, each of its batches made durable (and timed) once.
    expect(
      delta('stormproof_ingest_request_duration_seconds_count', 'ingest', {
        route: '/v1/events',
        status: '200',
      }),
    ).toBe(1);
    expect(delta('stormproof_ingest_handover_seconds_count', 'ingest', { outcome: 'archived' })).toBe(
      batches.length,
    );
    expect(delta('stormproof_ingest_handover_seconds_sum', 'ingest')).toBeGreaterThan(0);
    expect(delta('stormproof_ingest_batch_events_total', 'ingest', { outcome: 'archived' })).toBe(40);
    expect(delta('stormproof_ingest_batch_events_total', 'ingest', { outcome: 'captured' })).toBe(0);
    // The worker did nothing: a healthy batch never reaches Temporal.
    expect(delta('stormproof_events_archived_total', 'worker', { region: 'us-east-1', bucket: home })).toBe(
      0,
    );
    expect(after.ingest.value('stormproof_archive_breaker_state', { bucket: home })).toBe(0);
    // Node process series of each process.
    expect(after.ingest.value('stormproof_ingest_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(after.worker.value('stormproof_worker_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('shows captured batches, the open breaker and the worker and SDK series while S3 refuses; all recover', async () => {
    const events = makeEvents(10, 'us-east-1');
    const hour = events[0]!.timestamp.slice(0, 13); // e.g. 2051-03-02T17
    // The S3 client percent-encodes the key's "=" signs.
    const pathRegex = `region(=|%3D)us-east-1/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
    const home = config.regions[0]!.archive[0]!.bucket;
    const s3Listeners = ['s3-us-east-1', 's3-us-west-2'];
    const before = {
      ingest: await scrape(urls.ingest),
      worker: await scrape(urls.worker),
      sdk: await scrape(urls.sdk),
    };
    try {
      for (const l of s3Listeners)
        await own.proxy.setFault(l, { mode: 'error', status: 503, format: 's3', pathRegex });
      const [batch] = await send(events);
      expect(batch!.captureWorkflowId).toMatch(/^capture-us-east-1-/);
      let worst = { backlog: 0, breaker: 0 };
      const seen = await waitUntil(
        async () => {
          const [i, w] = [await scrape(urls.ingest), await scrape(urls.worker)];
          worst = {
            backlog: Math.max(worst.backlog, i.value('stormproof_captured_batches', { region: 'us-east-1' })),
            breaker: Math.max(worst.breaker, w.value('stormproof_archive_breaker_state', { bucket: home })),
          };
          return worst.backlog >= 1 && worst.breaker >= 1;
        },
        // Three failed capture attempts open the breaker; each is two buckets of S3 calls that the SDK
        // retries with throttling backoff (SlowDown). On a loaded 2-core machine with a CPU hog that once
        // took more than 45 s: the deadline is for a slow machine, not a typical one (~10 s).
        120_000,
        250,
      );
      expect(worst.backlog).toBeGreaterThanOrEqual(1);
      expect(worst.breaker).toBeGreaterThanOrEqual(1); // 2 open, 1 half-open: either way not closed
      expect(seen).toBe(true);

      for (const l of s3Listeners) await own.proxy.clear(l);
      const handle = client.client.workflow.getHandle(batch!.captureWorkflowId!);
      await handle.signal(retryNowSignal);
      // The breaker lets a probe through after its reset timeout; the batch then completes.
      expect(
        await waitUntil(async () => (await handle.describe()).status.name === 'COMPLETED', 45_000, 250),
      ).toBe(true);
      const after = {
        ingest: await scrape(urls.ingest),
        worker: await scrape(urls.worker),
        sdk: await scrape(urls.sdk),
      };
      const delta = (
        name: string,
        which: 'ingest' | 'worker' | 'sdk',
        labels?: Record<string, string>,
      ): number => after[which].value(name, labels) - before[which].value(name, labels);
      expect(delta('stormproof_ingest_batch_events_total', 'ingest', { outcome: 'captured' })).toBe(10);
      expect(delta('stormproof_ingest_handover_seconds_count', 'ingest', { outcome: 'captured' })).toBe(1);
      expect(delta('stormproof_events_delivered_total', 'worker', { region: 'us-east-1' })).toBe(10);
      // At least once: a local activity whose workflow task timed out on a busy machine runs again (and finds
      // its own object), so the worker's counter may count a batch twice; the archive holds it once.
      expect(
        delta('stormproof_events_archived_total', 'worker', { region: 'us-east-1', bucket: home }) +
          delta('stormproof_events_archived_total', 'worker', {
            region: 'us-east-1',
            bucket: config.regions[0]!.archive[1]!.bucket,
          }),
      ).toBeGreaterThanOrEqual(10);
      // The Temporal SDK's own series (Core's Prometheus exporter): the capture workflow and its local activities.
      expect(delta('temporal_workflow_completed_total', 'sdk')).toBeGreaterThanOrEqual(1);
      expect(delta('temporal_local_activity_execution_latency_count', 'sdk')).toBeGreaterThanOrEqual(2);
    } finally {
      for (const l of s3Listeners) await own.proxy.clear(l);
    }
  }, 240_000);

  it('writes JSON log lines only, with no token, key or event payload in them', () => {
    const key = readSecret(config.encryption!.keys[0]!).value;
    const lines = logs.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(10);
    const notJson = lines.filter((l) => {
      try {
        return typeof JSON.parse(l) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    for (const secret of [token, key, '203.0.113.7', 'Mozilla/5.0']) expect(logs).not.toContain(secret);
  });
});
