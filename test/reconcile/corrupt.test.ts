import { gzipSync } from 'node:zlib';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ArchivedObject } from '../../src/shared/batch';
import { hourOf } from '../../src/shared/batch';
import type { ReconcileReport } from '../../src/shared/reconcile';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { nextHour, sideOf, startReconcileWorld, type ReconcileWorld } from './world';

describe('reconcile: corrupt archive objects', () => {
  let w: ReconcileWorld;
  beforeAll(async () => {
    w = await startReconcileWorld();
  });
  afterAll(() => w.stop());

  /** Replaces an object's body, keeping its manifest metadata: damage after the archive wrote it. */
  async function damage(obj: ArchivedObject, body: Buffer): Promise<void> {
    const s3 = w.aws.s3(obj.bucketRegion);
    const head = await s3.send(new HeadObjectCommand({ Bucket: obj.bucket, Key: obj.key }));
    await s3.send(
      new PutObjectCommand({
        Bucket: obj.bucket,
        Key: obj.key,
        Body: body,
        ContentType: 'application/x-ndjson',
        Metadata: head.Metadata,
      }),
    );
  }

  it('reports a bad-gzip and a bad-line object by key and reconciles the rest of the window', async () => {
    const first = makeEvents(3000);
    const hour = hourOf(first[0]!.timestamp);
    const second = nextHour(first.slice(0, 1000), 'later');
    const objects = await w.archive(first);
    await w.archive(second);
    await w.deliver([...first, ...second]);
    await damage(objects[0]!, Buffer.from('this is not gzip'));
    await damage(objects[1]!, gzipSync(`${JSON.stringify(first[1000])}\n{"id": "half a line`));
    // Lost events in the readable object of the first hour and in the second hour.
    const lost = [...first.slice(2000, 2010), ...second.slice(0, 15)];
    await w.forget(lost.map((e) => e.id));

    const failure = await w.reconcile(hour, 2).then(
      () => {
        throw new Error('expected the run to fail on corrupt objects');
      },
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('ReconcileCorruptArchive');
    expect(cause.message).toContain(objects[0]!.key);
    const report = cause.details![0] as ReconcileReport;
    expect(report.verdict).toBe('corrupt-objects');
    expect(report.corruptObjects).toEqual(
      expect.arrayContaining([
        {
          bucket: objects[0]!.bucket,
          key: objects[0]!.key,
          error: expect.stringContaining('not a gzip object'),
        },
        { bucket: objects[1]!.bucket, key: objects[1]!.key, error: expect.stringContaining('line 2') },
      ]),
    );
    expect(report.corruptObjects).toHaveLength(2);
    expect(report).toMatchObject({
      bucketsCompared: 2,
      bucketsDiffered: 2,
      eventsReplayed: lost.length,
      unresolved: [],
    });
    // Both hours are whole again in the stats.
    expect(await statsHour(w.config, 'us-east-1', hour)).toMatchObject(sideOf(first));
    expect(await statsHour(w.config, 'us-east-1', second[0]!.timestamp)).toMatchObject(sideOf(second));
  });
});
