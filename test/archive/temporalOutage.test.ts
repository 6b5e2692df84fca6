import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import type { AppConfig } from '../../src/config/schema';
import type { BatchStatus } from '../../src/shared/batch';
import type { TrackingEvent } from '../../src/shared/event';
import { hourOf } from '../../src/shared/batch';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig } from '../helpers/env';
import { capturedIds, makeEvents, startPipeline, type Pipeline } from '../helpers/pipeline';
import { privateFaults, type PrivateFaults } from '../helpers/privateFaults';
import { privateTemporal, type PrivateTemporal } from '../helpers/privateTemporal';
import { sendUntilAccepted, type Attempt, type IngestTarget } from '../helpers/resendingClient';
import { archiveByKey, expectEachEventOnce } from '../helpers/verify';

jest.setTimeout(300_000);

/** Short S3 and stats client timeouts, so a failing bucket costs seconds, not the production defaults. */
const quick = (c: AppConfig): AppConfig => ({
  ...c,
  aws: { ...c.aws, requestTimeoutMs: 1500, connectTimeoutMs: 1000, maxAttempts: 2 },
  stats: { ...c.stats, requestTimeoutMs: 1500 },
  ingest: { ...c.ingest, archiveTimeoutMs: 3000 },
});

/**
 * Load from a few concurrent lanes, each a client that resends on every 503 (only `notAccepted` when the
 * answer lists it) until its request is acknowledged, taking the next 100 events of `pool` until stopped.
 */
function load(pool: TrackingEvent[], target: IngestTarget, lanes = 3) {
  const attempts: Attempt[] = [];
  let cursor = 0;
  let stopped = false;
  let cancelled = false;
  const giveUpAt = Date.now() + 240_000;
  const lane = async (): Promise<void> => {
    while (!stopped && cursor < pool.length) {
      const chunk = pool.slice(cursor, (cursor += 100));
      await sendUntilAccepted(chunk, {
        target: () => target,
        giveUpAt,
        cancelled: () => cancelled,
        onAttempt: (a) => attempts.push(a),
      });
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, lane));
  running.catch(() => undefined); // surfaced by stop()
  return {
    attempts,
    /** Stops taking new events and waits until every request taken is acknowledged; returns the events sent. */
    async stop(): Promise<TrackingEvent[]> {
      stopped = true;
      await running;
      return pool.slice(0, Math.min(cursor, pool.length));
    },
    /** After a failure: gives up on what is not acknowledged yet. */
    async cancel(): Promise<void> {
      stopped = cancelled = true;
      await running.catch(() => undefined);
    },
  };
}

/** Waits (failing the test past the deadline) until `count()` reaches `n`. */
async function reach(what: string, count: () => number, n: number, timeoutMs = 120_000): Promise<void> {
  if (!(await waitUntil(() => count() >= n, timeoutMs, 50)))
    throw new Error(`${what}: ${count()} of ${n} within ${timeoutMs / 1000} s`);
}

/**
 * Issue 13: the Temporal server killed (SIGKILL) and restarted mid-load, while a client resends on every
 * 503. A private dev server (this file's own, so the shared stack's Temporal stays up for other files); the
 * ingest (EventSender behind the HTTP server) and a worker run in this process against it.
 *
 * The dev server keeps its state in a SQLite file (see test/helpers/privateTemporal.ts): in (b) batches are
 * captured BEFORE the kill, and those captureBatch workflows must survive the restart and complete, as on a
 * real cluster whose persistence outlives the frontend. An in-memory dev server would lose them, which
 * would test the dev server, not the product.
 */
describe('the Temporal server killed and restarted mid-load', () => {
  let temporal: PrivateTemporal;
  let reader: AwsClients;
  beforeAll(async () => {
    temporal = await privateTemporal();
    reader = createAwsClients(testConfig()); // reads the archive around the faults
  }, 120_000);
  afterAll(async () => {
    reader?.destroy();
    await temporal?.close();
  });

  let f: PrivateFaults | undefined;
  let p: Pipeline | undefined;
  afterEach(async () => {
    // A test that failed with the server down leaves it down: the pipeline's shutdown needs it.
    if (!temporal.running()) await temporal.restart();
    await p?.stop();
    await f?.close();
    p = f = undefined;
  });

  const pipeline = async (): Promise<{ p: Pipeline; f: PrivateFaults; target: IngestTarget }> => {
    f = await privateFaults(testConfig());
    const base = quick(f.config);
    p = await startPipeline({ ...base, temporal: { ...base.temporal, address: temporal.address } });
    return { p, f, target: { name: 'ingest', url: p.ingestUrl, headers: p.ingestHeaders } };
  };

  it('(a) S3 healthy: the fast path answers 200 through the whole outage, nothing in Temporal', async () => {
    const { p, target } = await pipeline();
    const traffic = load(makeEvents(40_000), target);
    const { attempts } = traffic;
    try {
      await reach('answers before the kill', () => attempts.length, 5);
      await temporal.kill();
      const killedAt = Date.now();
      // Requests sent after the kill and answered while the server is still down.
      const duringOutage = () => attempts.filter((a) => a.sentAt >= killedAt).length;
      await reach('answers during the outage', duringOutage, 15);
      const restartAt = Date.now();
      await temporal.restart();
      const upAt = Date.now();
      await reach('answers after the restart', () => attempts.filter((a) => a.sentAt >= upAt).length, 5);
      const sent = await traffic.stop();

      const outage = attempts.filter((a) => a.sentAt >= killedAt && a.answeredAt <= restartAt);
      expect(outage.length).toBeGreaterThanOrEqual(15);
      // Only 200s, before, during and after the outage; every batch archived by the ingest itself.
      expect(attempts.filter((a) => a.status !== 200)).toEqual([]);
      const batches = attempts.flatMap((a) => a.body?.batches ?? []);
      expect(batches.filter((b) => !b.archived || b.captureWorkflowId)).toEqual([]);
      await expectEachEventOnce(reader, p.config, sent);
    } finally {
      await traffic.cancel();
    }
  });

  it('(b) S3 and Temporal both down: 503 and resends; Temporal back: captured; S3 back: all drain, once', async () => {
    const { p, f, target } = await pipeline();
    const s3Down = { mode: 'error' as const, status: 503, format: 's3' as const };
    await f.proxy.setFault('s3-us-east-1', s3Down);
    await f.proxy.setFault('s3-us-west-2', s3Down);
    const traffic = load(makeEvents(40_000), target);
    const { attempts } = traffic;
    const ok = (since: number) => attempts.filter((a) => a.status === 200 && a.sentAt >= since);
    try {
      // S3 refuses, Temporal takes the batches: captured, 200.
      await reach('captured before the kill', () => ok(0).length, 3);
      const capturedBeforeKill = ok(0).flatMap((a) => capturedIds(a.body!));
      expect(capturedBeforeKill.length).toBeGreaterThan(0);

      await temporal.kill();
      const killedAt = Date.now();
      await reach(
        '503s during the outage',
        () => attempts.filter((a) => a.status === 503 && a.sentAt >= killedAt).length,
        6,
      );
      const restartAt = Date.now();
      await temporal.restart();
      const upAt = Date.now();
      // Temporal is back, S3 still refuses: the resent requests are captured and answered 200.
      await reach('captured after the restart', () => ok(upAt).length, 3);
      const sent = await traffic.stop();

      // While both were down, nothing sent was acknowledged: no 200, no partial acceptance.
      const outage = attempts.filter((a) => a.sentAt >= killedAt && a.answeredAt <= restartAt);
      expect(outage.length).toBeGreaterThanOrEqual(6);
      expect(outage.filter((a) => a.acked.length > 0)).toEqual([]);
      expect(outage.every((a) => a.status === 503)).toBe(true);
      const capturedAfter = ok(upAt).flatMap((a) => capturedIds(a.body!));
      expect(capturedAfter.length).toBeGreaterThan(0);
      // No 200 came from the fast path: S3 refused every batch.
      const batches = attempts.flatMap((a) => (a.status === 200 ? (a.body?.batches ?? []) : []));
      expect(batches.filter((b) => b.archived || !b.captureWorkflowId)).toEqual([]);

      // S3 back: every capture drains, those captured before the kill too (they survived the restart).
      await f.proxy.clearAll();
      const running = async (): Promise<number> => {
        let n = 0;
        const query = `TaskQueue = '${p.config.temporal.taskQueue}' AND ExecutionStatus = 'Running'`;
        for await (const _ of p.client.workflow.list({ query })) n++;
        return n;
      };
      expect(await waitUntil(async () => (await running()) === 0, 180_000, 1000)).toBe(true);
      const early = await Promise.all(
        capturedBeforeKill.map((id) => p.client.workflow.getHandle(id).result() as Promise<BatchStatus>),
      );
      expect(early.map((s) => s.state)).toEqual(early.map(() => 'done'));

      // Every event sent by ID: in exactly one archive object, counted once by the stats.
      const hour = hourOf(sent[0]!.timestamp);
      const objectsOf = new Map<string, number>();
      for (const { ids } of (await archiveByKey(reader, p.config, 'us-east-1', hour)).values())
        for (const id of ids) objectsOf.set(id, (objectsOf.get(id) ?? 0) + 1);
      expect(
        sent.filter((e) => objectsOf.get(e.id) !== 1).map((e) => [e.id, objectsOf.get(e.id) ?? 0]),
      ).toEqual([]);
      await expectEachEventOnce(reader, p.config, sent);
    } finally {
      await traffic.cancel();
    }
  });
});
