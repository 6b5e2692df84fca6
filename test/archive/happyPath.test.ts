import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { hourOf, type BatchStatus } from '../../src/shared/batch';
import { IdDigest } from '../../src/shared/idDigest';
import { testConfig } from '../helpers/env';
import { makeEvents, ndjson, postEvents, startPipeline, type Pipeline } from '../helpers/pipeline';
import { archivedEvents, statsHour } from '../helpers/verify';

describe('archiving through the real stack: ingest → archiveBatch → S3 and stats', () => {
  let p: Pipeline;
  let aws: AwsClients;
  beforeAll(async () => {
    p = await startPipeline(testConfig());
    aws = createAwsClients(p.config);
  });
  afterAll(async () => {
    aws.destroy();
    await p.stop();
  });

  const post = (body: string, contentType?: string) => postEvents(p, body, contentType);

  it('N events in: N in the archive (read back by ID), N counted by the stats API', async () => {
    const events = makeEvents(2500);
    const answers = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        const res = await post(ndjson(events.slice(i * 500, (i + 1) * 500)));
        expect(res.status).toBe(200);
        return res.body;
      }),
    );
    expect(answers.reduce((n, a) => n + a.accepted, 0)).toBe(2500);

    const workflowIds = [...new Set(answers.flatMap((a) => a.batches!.map((b) => b.workflowId)))];
    const results = await Promise.all(
      workflowIds.map((id) => p.client.workflow.getHandle(id).result() as Promise<BatchStatus>),
    );
    for (const r of results) expect(r.state).toBe('done');
    expect(results.reduce((n, r) => n + r.events, 0)).toBe(2500);

    const hour = hourOf(events[0]!.timestamp);
    const objects = await archivedEvents(aws, p.config, 'us-east-1', hour);
    expect(objects.every((o) => o.bucket === 'stormproof-archive-us-east-1')).toBe(true);
    const archivedIds = objects.flatMap((o) => o.events.map((e) => e.id));
    expect(archivedIds).toHaveLength(2500);
    expect(new Set(archivedIds)).toEqual(new Set(events.map((e) => e.id)));
    expect(objects.flatMap((o) => o.events).find((e) => e.id === events[10]!.id)).toEqual(events[10]);

    const stats = await statsHour(p.config, 'us-east-1', events[0]!.timestamp);
    expect(stats).toMatchObject({ count: 2500, digest: IdDigest.of(events.map((e) => e.id)).toHex() });
  });

  it('a resent batch is not archived twice', async () => {
    const events = makeEvents(300);
    const first = (await post(JSON.stringify(events), 'application/json')).body;
    await Promise.all(first.batches!.map((b) => p.client.workflow.getHandle(b.workflowId).result()));
    const again = (await post(JSON.stringify(events), 'application/json')).body;
    expect(again.batches!.map((b) => b.workflowId)).toEqual(first.batches!.map((b) => b.workflowId));

    const objects = await archivedEvents(aws, p.config, 'us-east-1', hourOf(events[0]!.timestamp));
    expect(objects).toHaveLength(first.batches!.length);
    expect(objects.flatMap((o) => o.events)).toHaveLength(300);
    expect(await statsHour(p.config, 'us-east-1', events[0]!.timestamp)).toMatchObject({ count: 300 });
  });

  it('shows the batch in the Temporal UI: summary, search attributes, current details', async () => {
    const events = makeEvents(20, 'us-west-2');
    const answer = (await post(ndjson(events))).body;
    const handle = p.client.workflow.getHandle(answer.batches![0]!.workflowId);
    await handle.result();
    expect(handle.workflowId).toMatch(/^archive-us-west-2-\d{10}-[0-9a-f]{20}$/);
    const desc = await handle.describe();
    expect(desc.typedSearchAttributes.get({ name: 'StormproofBatchState', type: 'KEYWORD' } as never)).toBe(
      'done',
    );
    expect(await desc.staticSummary()).toBe(
      `20 events of us-west-2, hour ${hourOf(events[0]!.timestamp).slice(0, 13)}`,
    );
    const status = await handle.query('batchStatus');
    expect(status).toMatchObject({
      state: 'done',
      events: 20,
      archived: { bucket: 'stormproof-archive-us-west-2' },
    });
  });
});
