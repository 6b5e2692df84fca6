import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createNotifyActivities, type Notification } from '../../src/activities/notify/webhook';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook';

const note: Notification = {
  kind: 'region-down',
  key: 'monitor-us-east-1-down-3',
  title: 'us-east-1 is down',
  text: 'S3 failed 3 probes in a row. Approve the failover: `stormproof approve`',
};

describe('notify activity (Slack-compatible webhook over HTTP)', () => {
  let hook: WebhookReceiver;
  beforeEach(async () => (hook = await webhookReceiver()));
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
