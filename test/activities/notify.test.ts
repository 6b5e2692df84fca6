import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createNotifyActivities, type Notification } from '../../src/activities/notify/webhook';

interface Received {
  headers: IncomingMessage['headers'];
  body: { text: string; blocks: unknown[] };
}

/** A webhook receiver over real HTTP that answers with the status the test sets (0: never answers). */
async function receiver(): Promise<{
  url: string;
  got: Received[];
  answer: { status: number };
  close(): Promise<void>;
}> {
  const got: Received[] = [];
  const answer = { status: 200 };
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(data) as Received['body'] });
      if (answer.status) res.writeHead(answer.status).end(answer.status === 200 ? 'ok' : 'invalid_payload');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    answer,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const note: Notification = {
  kind: 'region-down',
  key: 'monitor-us-east-1-down-3',
  title: 'us-east-1 is down',
  text: 'S3 failed 3 probes in a row. Approve the failover: `stormproof approve`',
};

describe('notify activity (Slack-compatible webhook over HTTP)', () => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  beforeEach(async () => (hook = await receiver()));
  afterEach(() => hook.close());
  const notify = (url?: string) =>
    new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(
      createNotifyActivities({ url, timeoutMs: 500 }).notify,
      note,
    );

  it('posts a Slack message with an idempotency key', async () => {
    expect(await notify(hook.url)).toEqual({ delivered: true, detail: 'HTTP 200' });
    expect(hook.got).toHaveLength(1);
    expect(hook.got[0]!.headers['idempotency-key']).toBe(note.key);
    expect(hook.got[0]!.body.text).toBe(`:red_circle: *us-east-1 is down*\n${note.text}`);
    expect(hook.got[0]!.body.blocks).toHaveLength(3);
  });

  it('fails retryably on 503 and on no answer, for good on a refusal', async () => {
    hook.answer.status = 503;
    await expect(notify(hook.url)).rejects.toMatchObject({ type: 'WebhookUnavailable', nonRetryable: false });
    hook.answer.status = 0;
    await expect(notify(hook.url)).rejects.toMatchObject({ type: 'WebhookUnavailable', nonRetryable: false });
    hook.answer.status = 400;
    const refused = notify(hook.url);
    await expect(refused).rejects.toBeInstanceOf(ApplicationFailure);
    await expect(refused).rejects.toMatchObject({
      type: 'WebhookRefused',
      nonRetryable: true,
      message: /400 invalid_payload/,
    });
  });

  it('only logs when no webhook is configured', async () => {
    expect(await notify(undefined)).toMatchObject({ delivered: false });
    expect(hook.got).toHaveLength(0);
  });
});
