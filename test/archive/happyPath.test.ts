import { WorkflowNotFoundError } from '@temporalio/client';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { captureWorkflowId, hourOf } from '../../src/shared/batch';
import { testConfig } from '../helpers/env';
import { makeEvents, ndjson, postEvents, startPipeline, type Pipeline } from '../helpers/pipeline';
import { archivedEvents, expectEachEventOnce } from '../helpers/verify';

describe('the fast path through the real stack: ingest → S3 and stats, nothing in Temporal', () => {
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
    const batches = answers.flatMap((a) => a.batches!);
    // Every batch was confirmed by S3 before the answer: none needed Temporal.
    for (const b of batches) {
      expect(b.archived).toMatch(/^s3:\/\/stormproof-archive-us-east-1\/events\/v1\/region=us-east-1\//);
      expect(b.captureWorkflowId).toBeUndefined();
    }
    const objects = await archivedEvents(aws, p.config, 'us-east-1', hourOf(events[0]!.timestamp));
    expect(objects.flatMap((o) => o.events).find((e) => e.id === events[10]!.id)).toEqual(events[10]);
    await expectEachEventOnce(aws, p.config, events);
  });

  it('a healthy batch starts no workflow', async () => {
    const events = makeEvents(20, 'us-west-2');
    const { status, body } = await post(ndjson(events));
    expect(status).toBe(200);
    await expectEachEventOnce(aws, p.config, events);
    const [batch] = body.batches!;
    await expect(
      p.client.workflow.getHandle(captureWorkflowId('us-west-2', batch!.batchId)).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('the same batch resent is not archived twice', async () => {
    const events = makeEvents(300);
    const first = (await post(JSON.stringify(events), 'application/json')).body;
    await expectEachEventOnce(aws, p.config, events);
    const again = (await post(JSON.stringify(events), 'application/json')).body;
    // Same events, same batch: its conditional PUT found the first object (same key, same checksum).
    expect(again.batches!.map((b) => b.archived)).toEqual(first.batches!.map((b) => b.archived));
    const objects = await archivedEvents(aws, p.config, 'us-east-1', hourOf(events[0]!.timestamp));
    expect(objects).toHaveLength(first.batches!.length);
    await expectEachEventOnce(aws, p.config, events);
  });
});
