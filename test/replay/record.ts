/**
 * Records the histories the replay test (replay.test.ts) replays: runs each workflow of the project on a
 * running local stack with the current code and writes its history to test/replay/histories/<name>.json.
 * Refresh them (and commit them) when a workflow changes on purpose in a way old histories need not follow,
 * i.e. only together with a patch or a new workflow type, never to make a red replay test green:
 *
 *   npm run stack -- up --profile test
 *   STORMPROOF_CONFIG=.stack/test/stormproof.config.json npx tsx test/replay/record.ts [workflowType …]
 *   npm run stack -- down --profile test
 *
 * Payloads are recorded compressed but not encrypted, so replaying needs no key.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { connectClient } from '../../src/client/connect';
import { batchIdOf, prepareBatch } from '../../src/archive/format';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/schema';
import { FaultProxyClient } from '../../src/fault-proxy';
import { hourOf, type ArchiveBatchInput, type BatchStatus } from '../../src/shared/batch';
import { batchStatusQuery, retryNowSignal } from '../../src/shared/messages';
import { waitUntil } from '../../src/util/waitUntil';
import { createWorker } from '../../src/worker';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { recordCaptureBatch } from './captureScenarios';
import { recordSealHour } from './sealScenarios';
import { HISTORIES_DIR, historyToFixture } from './fixtures';

async function main(): Promise<void> {
  const base = loadConfig();
  const config: AppConfig = {
    ...base,
    encryption: undefined,
    temporal: { ...base.temporal, taskQueue: uniqueName('replay-record') },
    ingest: { ...base.ingest, lingerMs: 10 },
    archive: { captureInitialBackoffMs: 300, captureMaxBackoffMs: 1500 },
  };
  const { client, close } = await connectClient(config);
  const { worker, close: closeWorker } = await createWorker({ config, shutdownGraceSeconds: 0 });
  const running = worker.run();
  const save = async (name: string, handle: WorkflowHandle): Promise<void> => {
    const history = await handle.fetchHistory();
    writeFileSync(
      join(HISTORIES_DIR, `${name}.json`),
      `${JSON.stringify(historyToFixture(history), null, 2)}\n`,
    );
    console.log(`recorded ${name} (${history.events?.length} events)`);
  };
  // archiveBatch as versions before the fast path started it (kept registered until those batches finish).
  const batch = async (events: ReturnType<typeof makeEvents>): Promise<WorkflowHandle> => {
    const hour = hourOf(events[0]!.timestamp);
    const batchId = batchIdOf(hour, events);
    const { manifest, body } = await prepareBatch({ batchId, region: events[0]!.region, hour, events });
    const input: ArchiveBatchInput = {
      ...manifest,
      capture: {
        initialMs: config.archive.captureInitialBackoffMs,
        maxMs: config.archive.captureMaxBackoffMs,
      },
    };
    return client.workflow.start('archiveBatch', {
      workflowId: `archive-${manifest.region}-${batchId}`,
      taskQueue: config.temporal.taskQueue,
      args: [input, body],
    });
  };

  // Workflow types to record (arguments), default all: re-recording one type leaves the others' fixtures alone.
  const only = process.argv.slice(2);
  const wants = (type: string): boolean => only.length === 0 || only.includes(type);
  try {
    if (wants('captureBatch')) await recordCaptureBatch({ client, config, save });
    if (wants('archiveBatch')) await recordArchiveBatch();
    if (wants('sealHour')) await recordSealHour({ client, config, save });
    if (wants('probeRegions')) {
      const probe = await client.workflow.start('probeRegions', {
        taskQueue: config.temporal.taskQueue,
        workflowId: uniqueName('probe-regions'),
      });
      await probe.result();
      await save('probeRegions', probe);
    }
  } finally {
    worker.shutdown();
    await running;
    await closeWorker();
    await close();
  }

  async function recordArchiveBatch(): Promise<void> {
    const happy = await batch(makeEvents(20, 'us-east-1'));
    await happy.result();
    await save('archiveBatch-happy', happy);

    // Captured: both S3 buckets of the region refuse this batch's hour until it has waited twice.
    const faults = new FaultProxyClient(config.faultProxy!.controlUrl);
    const events = makeEvents(20, 'us-east-1');
    const hour = events[0]!.timestamp;
    const pathRegex = `region(=|%3D)us-east-1/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
    const listeners = ['s3-us-east-1', 's3-us-west-2'];
    try {
      for (const l of listeners)
        await faults.setFault(l, { mode: 'error', status: 503, format: 's3', pathRegex });
      const captured = await batch(events);
      const waited = await waitUntil(
        async () => {
          const s: BatchStatus = await captured.query(batchStatusQuery);
          return s.state === 'captured' && s.attempts >= 2;
        },
        120_000,
        250,
      );
      if (!waited) throw new Error('the batch was not captured twice within 2 minutes');
      for (const l of listeners) await faults.clear(l);
      await captured.signal(retryNowSignal);
      await captured.result();
      await save('archiveBatch-captured', captured);
    } finally {
      for (const l of listeners) await faults.clear(l);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
