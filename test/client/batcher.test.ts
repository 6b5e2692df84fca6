import { Batcher, type BatchLimits, type SealedBatch } from '../../src/client/batcher';
import type { TrackingEvent } from '../../src/shared/event';

/**
 * When the batcher seals: group commit (an idle partition seals at once; a busy one gathers until its batch
 * in flight is durable or the linger ends) and the plain linger. The hand-over here is a test double that
 * the test acknowledges by hand; the fast path it feeds is proven on the real stack (test/client,
 * test/archive) and measured in bench/ingest-load.ts.
 */

const event = (id: string, region = 'us-east-1'): TrackingEvent => ({
  id,
  type: 'click',
  timestamp: '2026-12-04T10:00:00.000Z',
  region,
  offerId: 'o-1',
  affiliateId: 'a-1',
  attributes: {},
});

interface Handed {
  batch: SealedBatch;
  ack: () => void;
  fail: (err: Error) => void;
}

const harnesses: { batcher: Batcher<string>; handed: Handed[] }[] = [];

function harness(limits: Partial<BatchLimits>) {
  const handed: Handed[] = [];
  const batcher = new Batcher<string>(
    {
      maxEvents: 1000,
      maxBytes: 1_000_000,
      lingerMs: 60_000,
      sealWhenIdle: true,
      maxPendingEvents: 10_000,
      ...limits,
    },
    (batch, ack) =>
      new Promise<void>((resolve, reject) => {
        handed.push({
          batch,
          ack: () => {
            ack(batch.ids.join(','));
            resolve();
          },
          fail: reject,
        });
      }),
  );
  harnesses.push({ batcher, handed });
  return { batcher, handed };
}

/** Lets setImmediate callbacks (the idle seal) and promise reactions run. */
const turn = () => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  // Nothing left behind: every open batch sealed (its linger timer cleared) and every hand-over answered.
  afterEach(async () => {
    jest.useRealTimers();
    for (const { batcher, handed } of harnesses.splice(0)) {
      const flushed = batcher.flush();
      for (const h of handed) h.ack();
      await flushed;
    }
  });

  it("puts each event in its timestamp's hour, from the instants the validation parsed when it has them", async () => {
    const at = (id: string, timestamp: string): TrackingEvent => ({ ...event(id), timestamp });
    const events = [at('a', '2026-12-04T10:59:59.999Z'), at('b', '2026-12-04T11:00:00.000Z')];
    for (const instants of [undefined, events.map((e) => Date.parse(e.timestamp))]) {
      const { batcher, handed } = harness({});
      const answer = batcher.add(events, instants);
      await turn();
      expect(handed.map((h) => [h.batch.hour, h.batch.ids])).toEqual([
        ['2026-12-04T10:00:00.000Z', ['a']],
        ['2026-12-04T11:00:00.000Z', ['b']],
      ]);
      for (const h of handed) h.ack();
      await answer;
    }
  });

  it('seals at once when the partition has nothing in flight, whatever the linger', async () => {
    const { batcher, handed } = harness({ lingerMs: 60_000 });
    const answer = batcher.add([event('a'), event('b')]);
    await turn();
    expect(handed.map((h) => h.batch.ids)).toEqual([['a', 'b']]);
    handed[0]!.ack();
    expect(await answer).toEqual([{ events: [0, 1], outcome: { status: 'fulfilled', value: 'a,b' } }]);
  });

  it('gathers while a batch is in flight and seals what gathered once it is durable', async () => {
    const { batcher, handed } = harness({ lingerMs: 60_000 });
    const first = batcher.add([event('a')]);
    await turn();
    const second = batcher.add([event('b')]);
    const third = batcher.add([event('c')]);
    await turn();
    expect(handed).toHaveLength(1); // b and c wait for a

    handed[0]!.ack();
    expect(handed.map((h) => h.batch.ids)).toEqual([['a'], ['b', 'c']]);
    handed[1]!.ack();
    await expect(first).resolves.toHaveLength(1);
    expect((await second)[0]!.outcome).toEqual({ status: 'fulfilled', value: 'b,c' });
    expect((await third)[0]!.outcome).toEqual({ status: 'fulfilled', value: 'b,c' });
  });

  it('a refused batch frees its partition too', async () => {
    const { batcher, handed } = harness({ lingerMs: 60_000 });
    const first = batcher.add([event('a')]);
    await turn();
    const second = batcher.add([event('b')]);
    handed[0]!.fail(new Error('S3 and Temporal refused'));
    expect((await first)[0]!.outcome.status).toBe('rejected');
    expect(handed.map((h) => h.batch.ids)).toEqual([['a'], ['b']]);
    handed[1]!.ack();
    expect((await second)[0]!.outcome.status).toBe('fulfilled');
  });

  it('partitions are independent: a busy region does not hold back an idle one', async () => {
    const { batcher, handed } = harness({ lingerMs: 60_000 });
    void batcher.add([event('a', 'us-east-1')]);
    await turn();
    void batcher.add([event('b', 'us-east-1'), event('c', 'us-west-2')]);
    await turn();
    expect(handed.map((h) => h.batch.ids)).toEqual([['a'], ['c']]);
  });

  it('while one is in flight, the linger still bounds the wait', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'queueMicrotask', 'nextTick'] });
    const { batcher, handed } = harness({ lingerMs: 50 });
    void batcher.add([event('a')]);
    await turn();
    void batcher.add([event('b')]);
    jest.advanceTimersByTime(49);
    expect(handed).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(handed.map((h) => h.batch.ids)).toEqual([['a'], ['b']]);
  });

  it('without group commit every batch waits its linger', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'queueMicrotask', 'nextTick'] });
    const { batcher, handed } = harness({ lingerMs: 50, sealWhenIdle: false });
    void batcher.add([event('a')]);
    await turn();
    jest.advanceTimersByTime(49);
    expect(handed).toHaveLength(0);
    jest.advanceTimersByTime(1);
    expect(handed.map((h) => h.batch.ids)).toEqual([['a']]);
  });

  it('a full batch seals at once even while another is in flight', async () => {
    const { batcher, handed } = harness({ lingerMs: 60_000, maxEvents: 2 });
    void batcher.add([event('a')]);
    await turn();
    void batcher.add([event('b'), event('c')]);
    expect(handed.map((h) => h.batch.ids)).toEqual([['a'], ['b', 'c']]);
  });
});
