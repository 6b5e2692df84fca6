import { hourOf } from '../../src/shared/batch';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook';
import { sideOf, startReconcileWorld, type ReconcileWorld } from './world';

describe('reconcile: events in the stats API that the archive does not hold', () => {
  let w: ReconcileWorld;
  let hook: WebhookReceiver;
  beforeAll(async () => {
    hook = await webhookReceiver();
    w = await startReconcileWorld({ webhookUrl: hook.url });
  });
  afterAll(async () => {
    await w.stop();
    await hook.close();
  });

  it('reports the extra events, leaves them in the stats and still replays what is missing', async () => {
    const events = makeEvents(1200);
    const hour = hourOf(events[0]!.timestamp);
    const archived = events.slice(0, 1000);
    const extra = events.slice(1000, 1005);
    await w.archive(archived, { batchSize: 500 });
    await w.deliver([...archived.slice(10), ...extra]);

    const report = await w.reconcile(hour);
    expect(report).toMatchObject({
      verdict: 'extra-events',
      bucketsDiffered: 1,
      eventsReplayed: 10,
      extraEvents: 5,
      iterations: 1,
      unresolved: [],
    });
    expect(new Set(report.extraSamples.flatMap((s) => s.ids))).toEqual(new Set(extra.map((e) => e.id)));
    // Nothing deleted: the stats hold every archived event plus the extras.
    expect(await statsHour(w.config, 'us-east-1', hour)).toMatchObject(sideOf([...archived, ...extra]));
    // Operators are told, once, on the webhook every other alert goes to.
    expect(hook.got).toHaveLength(1);
    expect(hook.got[0]!.body.text).toMatch(/Reconciliation of .* ended extra-events/);
    expect(hook.got[0]!.body.text).toContain('10 events replayed; 5 extra events in the stats (left there)');
    expect(JSON.stringify(hook.got[0]!.body.blocks)).toContain('reconcile-alert');
  });
});
