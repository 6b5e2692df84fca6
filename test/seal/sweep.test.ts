import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { prepareBatch } from '../../src/archive/format';
import { IdDigest } from '../../src/archive/idDigest';
import { configuredTargets } from '../../src/archive/targets';
import { archiveBreakers, createArchiveWriter } from '../../src/archive/writer';
import { createAwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import { readSeal, startSeal } from '../../src/client/seal';
import type { AppConfig } from '../../src/config/schema';
import type { TrackingEvent } from '../../src/shared/event';
import { HOUR_MS } from '../../src/shared/reconcile';
import { sealWorkflowId, type SealHourInput, type SealResult } from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { createWorker } from '../../src/worker';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { workflowBundle } from '../helpers/temporal';

jest.setTimeout(240_000);

const REGION = 'us-east-1';

/**
 * A raw object the ingest's fast path archives into an hour sealed before (an event up to
 * `ingest.timestampWindow.maxAgeMs` old): no captureBatch re-seals it, the hourly scheduled run does. Recent
 * hours, so the region's archive is a bucket of this test's own (other tests write recent hours elsewhere).
 */
describe('sealHour, scheduled: re-seals sealed hours of the accepted age window that raw objects landed in late', () => {
  const base = testConfig();
  const bucket = uniqueName('seal-sweep');
  const east = base.regions.find((r) => r.name === REGION)!;
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: uniqueName('seal-sweep') },
    regions: [{ ...east, archive: [{ bucket, region: REGION }] }],
  };

  /** Archives `n` events stamped inside the hour starting at `hourMs`, in one raw object (the fast path's writer). */
  async function archiveInHour(hourMs: number, n: number): Promise<TrackingEvent[]> {
    const events = makeEvents(n, REGION).map((e, i) => ({
      ...e,
      timestamp: new Date(hourMs + 1000 + i * 1000).toISOString(),
    }));
    const aws = createAwsClients(config);
    const breakers = archiveBreakers();
    try {
      const writer = createArchiveWriter({ aws, targets: configuredTargets(config), breakers });
      const { manifest, body } = await prepareBatch({
        batchId: uniqueName('sweep'),
        region: REGION,
        hour: new Date(hourMs).toISOString(),
        events,
      });
      await writer.archive(manifest, body, AbortSignal.timeout(30_000));
      return events;
    } finally {
      breakers.shutdown();
      aws.destroy();
    }
  }

  it('a late fast-path object in an hour sealed 30 hours ago makes its next version; an unchanged hour is left alone', async () => {
    const aws = createAwsClients(config);
    try {
      await aws.s3(REGION).send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      aws.destroy();
    }
    const now = Date.now();
    const lateHourMs = now - (now % HOUR_MS) - 30 * HOUR_MS;
    const quietHourMs = lateHourMs - 20 * HOUR_MS;
    const [lateHour, quietHour] = [lateHourMs, quietHourMs].map((h) => new Date(h).toISOString()) as [
      string,
      string,
    ];
    const onTime = await archiveInHour(lateHourMs, 20);
    await archiveInHour(quietHourMs, 15);

    const w = await createWorker({ config, workflowBundle: await workflowBundle(), shutdownGraceSeconds: 0 });
    const running = w.worker.run();
    const { client, close } = await connectClient(config);
    try {
      for (const hour of [lateHour, quietHour]) {
        const { handle } = await startSeal(client, config, { region: REGION, hour });
        expect((await handle.result()).summary?.version).toBe(1);
      }
      const quietRunId = (await client.workflow.getHandle(sealWorkflowId(REGION, quietHour)).describe())
        .runId;
      const late = await archiveInHour(lateHourMs, 10); // the fast path: a raw object, no capture

      // What the hourly Schedule starts: its own hour (closed 15 min before) is empty in this bucket.
      const input: SealHourInput = { region: REGION, closedHourLagMinutes: 15 };
      const scheduled = await client.workflow.start('sealHour', {
        workflowId: uniqueName(`seal-${REGION}-hourly`),
        taskQueue: config.temporal.taskQueue,
        args: [input],
      });
      expect(((await scheduled.result()) as SealResult).outcome).toBe('empty');

      const resealed = await waitUntil(
        async () => (await readSeal(config, { region: REGION, hour: lateHour }))?.manifest.version === 2,
        120_000,
        250,
      );
      expect(resealed).toBe(true);
      const m = (await readSeal(config, { region: REGION, hour: lateHour }))!.manifest;
      const ids = [...onTime, ...late].map((e) => e.id);
      expect(m.total).toEqual({ count: 30, digest: IdDigest.of(ids).toHex() });
      expect(m.delta).toMatchObject({ sources: 1, added: 10 });
      const child = client.workflow.getHandle(sealWorkflowId(REGION, lateHour));
      expect(await (await child.describe()).staticSummary()).toMatch(/raw objects landed after its seal/);
      // It lists the hour once more after version 2 (nothing new): let it end before the worker stops.
      expect(((await child.result()) as SealResult).summary?.version).toBe(2);

      // Nothing landed in the other hour: no new seal of it was started, its manifest is still version 1.
      expect((await client.workflow.getHandle(sealWorkflowId(REGION, quietHour)).describe()).runId).toBe(
        quietRunId,
      );
      expect((await readSeal(config, { region: REGION, hour: quietHour }))?.manifest.version).toBe(1);
    } finally {
      await close();
      w.worker.shutdown();
      await running;
      await w.close();
    }
  });
});
