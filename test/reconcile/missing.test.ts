import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { hourOf } from '../../src/shared/batch';
import type { ReconcileReport } from '../../src/shared/reconcile';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { sideOf, startReconcileWorld, type ReconcileWorld } from './world';

describe('reconcile: events missing from the stats API are found and replayed', () => {
  let w: ReconcileWorld;
  beforeAll(async () => {
    w = await startReconcileWorld();
  });
  afterAll(() => w.stop());

  it('replays removed and never-delivered events until exactly equal; a second run changes nothing', async () => {
    const events = makeEvents(4000);
    const hour = hourOf(events[0]!.timestamp);
    const delivered = events.slice(0, 3000);
    const neverDelivered = events.slice(3000);
    const batchPrefix = uniqueName('batch');
    const home = await w.archive(events, { batchPrefix }); // 4 objects of 1,000
    // The first batch also landed in the failover bucket (same key): it must count once.
    const copied = await w.archive(delivered.slice(0, 1000), { batchPrefix, bucket: 'failover' });
    expect(copied[0]!.key).toBe(home[0]!.key);
    expect(copied[0]!.bucket).toBe('stormproof-failover-us-east-1');
    await w.deliver(delivered);
    const removed = delivered.filter((_, i) => i % 97 === 0).map((e) => e.id);
    await w.forget(removed);
    expect((await statsHour(w.config, 'us-east-1', hour))?.count).toBe(3000 - removed.length);

    const first = await w.reconcile(hour);
    expect(first).toMatchObject({
      verdict: 'equal',
      bucketsCompared: 1,
      bucketsDiffered: 1,
      objectsRead: 4, // distinct keys: the failover copy is the same object
      eventsRead: 4000,
      eventsReplayed: removed.length + neverDelivered.length,
      iterations: 1,
      extraEvents: 0,
      corruptObjects: [],
    });
    expect(await statsHour(w.config, 'us-east-1', hour)).toMatchObject(sideOf(events));

    // The second run, by the operator CLI: nothing differs, nothing is read or replayed.
    const { stdout } = await promisify(execFile)(
      'node_modules/.bin/tsx',
      [
        'src/cli/main.ts',
        'reconcile',
        '--from',
        hour,
        '--to',
        nextHourOf(hour),
        '--region',
        'us-east-1',
        '--json',
      ],
      { env: { ...process.env, STORMPROOF_TASK_QUEUE: w.config.temporal.taskQueue }, timeout: 60_000 },
    );
    const second = JSON.parse(stdout) as ReconcileReport;
    expect(second).toMatchObject({
      verdict: 'equal',
      bucketsCompared: 1,
      bucketsDiffered: 0,
      objectsRead: 0,
      eventsReplayed: 0,
      iterations: 0,
    });
    expect(await statsHour(w.config, 'us-east-1', hour)).toMatchObject(sideOf(events));
  });

  it('counts an event archived in two objects (a resubmitted batch) once', async () => {
    const events = makeEvents(1000);
    const hour = hourOf(events[0]!.timestamp);
    await w.archive(events, { batchSize: 500 });
    await w.archive(events.slice(400, 600), { batchSize: 200 }); // the same events under a new batch ID
    await w.deliver(events.slice(20));
    const first = await w.reconcile(hour);
    expect(first).toMatchObject({
      verdict: 'equal',
      eventsReplayed: 20,
      archiveDuplicates: 200,
      unresolved: [],
    });
    expect(await statsHour(w.config, 'us-east-1', hour)).toMatchObject(sideOf(events));
    // The manifests still over-count, so a later run reads the hour again, but finds nothing to replay.
    const second = await w.reconcile(hour);
    expect(second).toMatchObject({ verdict: 'equal', bucketsDiffered: 1, eventsReplayed: 0, objectsRead: 3 });
  });

  it('an empty window and an equal window read no object at all', async () => {
    const events = makeEvents(500);
    const hour = hourOf(events[0]!.timestamp);
    await w.archive(events);
    await w.deliver(events);
    const report = await w.reconcile(hour);
    expect(report).toMatchObject({ verdict: 'equal', bucketsDiffered: 0, objectsRead: 0, eventsReplayed: 0 });
  });
});

const nextHourOf = (hour: string): string => new Date(Date.parse(hour) + 3_600_000).toISOString();
