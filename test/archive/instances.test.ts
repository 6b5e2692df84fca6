import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { IdDigest } from '../../src/archive/idDigest';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import { startReconcile } from '../../src/client/reconcile';
import type { AppConfig } from '../../src/config/schema';
import { readSecret } from '../../src/config/secrets';
import { hourOf, type BatchStatus } from '../../src/shared/batch';
import { HOUR_MS } from '../../src/shared/reconcile';
import {
  INGEST_NODE_FLAGS,
  WORKER_NODE_FLAGS,
  startNodeProcess,
  stopProcess,
} from '../../src/stack/nodeProcess';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { capturedIds, makeEvents, type IngestAnswer } from '../helpers/pipeline';
import { unusedPort } from '../helpers/ports';
import { privateFaults, type PrivateFaults } from '../helpers/privateFaults';
import { sendUntilAccepted, type Attempt, type IngestTarget } from '../helpers/resendingClient';
import { archiveByKey, expectEachEventOnce, statsHour } from '../helpers/verify';

jest.setTimeout(300_000);

interface Proc {
  name: string;
  child: ChildProcess;
  output: () => string;
}

/** A process of the project's own (its `main`), its output kept for failure messages. */
function start(name: string, entry: string, configPath: string, flags: string[] = []): Proc {
  const child = startNodeProcess(
    entry,
    { STORMPROOF_CONFIG: configPath, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    undefined,
    flags,
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  return { name, child, output: () => output };
}

const alive = (p: Proc): boolean => p.child.exitCode === null && p.child.signalCode === null;

async function sigkill(p: Proc): Promise<void> {
  const exited = exit(p);
  p.child.kill('SIGKILL');
  await exited;
}

/** Resolves once the process has exited (at once if it already has). */
async function exit(p: Proc): Promise<void> {
  if (alive(p)) await once(p.child, 'exit');
}

/**
 * Issue 13, "more than one instance": two ingest processes and two worker processes (their `main`s, each with
 * a config file) against the test stack's one Temporal and one S3 (behind a fault proxy of this file's own),
 * on a task queue of this file's own. Losing any one of them loses no acknowledged event.
 */
describe('two ingests and two workers: losing one of each loses no acknowledged event', () => {
  let faults: PrivateFaults;
  let config: AppConfig;
  let dir: string;
  let reader: AwsClients;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let ingestA: Proc;
  let ingestB: Proc;
  let workers: Proc[] = [];
  let target: { A: IngestTarget; B: IngestTarget };

  beforeAll(async () => {
    faults = await privateFaults(testConfig());
    const base = faults.config;
    const [portA, portB] = await Promise.all([unusedPort(), unusedPort()]);
    config = {
      ...base,
      temporal: { ...base.temporal, taskQueue: uniqueName('instances-test') },
      // Batches of at most 250 events: a request of 100 shares batches with its neighbours, and the
      // capture phase below has enough batches for both workers to hold some.
      ingest: { ...base.ingest, lingerMs: 50, maxBatchEvents: 250 },
      archive: { captureInitialBackoffMs: 300, captureMaxBackoffMs: 1500 },
      // No metrics listeners: the stack's fixed metrics ports would clash between two processes of a kind.
      metrics: undefined,
      log: { level: 'info' },
    };
    dir = mkdtempSync(join(tmpdir(), 'stormproof-instances-'));
    const write = (name: string, c: AppConfig): string => {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(c));
      return path;
    };
    // Ingests at warn (info logs every request); workers at info, which says when they are connected.
    const ingestConfig = (port: number): AppConfig => ({
      ...config,
      ingest: { ...config.ingest, port },
      log: { level: 'warn' },
    });
    const workerPath = write('worker.json', config);
    ingestA = start(
      'ingest A',
      'src/ingest/main.ts',
      write('ingest-a.json', ingestConfig(portA)),
      INGEST_NODE_FLAGS,
    );
    ingestB = start(
      'ingest B',
      'src/ingest/main.ts',
      write('ingest-b.json', ingestConfig(portB)),
      INGEST_NODE_FLAGS,
    );
    workers = [
      start('worker 1', 'src/worker.ts', workerPath, WORKER_NODE_FLAGS),
      start('worker 2', 'src/worker.ts', workerPath, WORKER_NODE_FLAGS),
    ];
    reader = createAwsClients(testConfig()); // reads the archive around the faults
    temporal = await connectClient(config);
    const headers = { authorization: `Bearer ${readSecret(config.ingestAuth!.tokens![0]!).value}` };
    target = {
      A: { name: 'A', url: `http://127.0.0.1:${portA}`, headers },
      B: { name: 'B', url: `http://127.0.0.1:${portB}`, headers },
    };
    const healthy = async (t: IngestTarget) =>
      fetch(`${t.url}/v1/health`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
    const all = [ingestA, ingestB, ...workers];
    const up = await waitUntil(
      async () =>
        all.every(alive) &&
        workers.every((w) => w.output().includes('worker connected')) &&
        (await healthy(target.A)) &&
        (await healthy(target.B)),
      120_000,
      250,
    );
    if (!up)
      throw new Error(
        `the processes did not come up:\n${all.map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`).join('\n')}`,
      );
  }, 180_000);

  afterAll(async () => {
    await Promise.all([ingestA, ingestB, ...workers].filter(Boolean).map((p) => stopProcess(p.child)));
    await temporal?.close();
    reader?.destroy();
    await faults?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an ingest SIGKILLed mid-load: every acknowledged event archived once and counted once', async () => {
    // Slow S3 PUTs and stats POSTs (well within the clients' timeouts) keep batches in flight at the kill:
    // some not yet archived (their senders unanswered), some archived and acknowledged but not yet counted.
    await faults.proxy.setFault('s3-us-east-1', { mode: 'latency', latencyMs: 300, methods: ['PUT'] });
    await faults.proxy.setFault('stats-us-east-1', { mode: 'latency', latencyMs: 1000, methods: ['POST'] });
    const events = makeEvents(4000); // one hour of their own
    const hour = hourOf(events[0]!.timestamp);
    const requests = Array.from({ length: 40 }, (_, i) => events.slice(i * 100, (i + 1) * 100));

    const attempts: Attempt[] = [];
    const inFlight = { A: 0, B: 0 };
    let next = 0;
    let killedA = false;
    const giveUpAt = Date.now() + 240_000;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < requests.length; i = next++) {
        // Even requests to A while it lives, odd ones to B; a request to a dead A (or one it never
        // answered) is resent to B.
        let current = i % 2 === 0 ? target.A : target.B;
        await sendUntilAccepted(requests[i]!, {
          giveUpAt,
          target: () => {
            if (current === target.A && killedA) current = target.B;
            inFlight[current.name as 'A' | 'B']++;
            return current;
          },
          onAttempt: (a) => {
            inFlight[a.target as 'A' | 'B']--;
            attempts.push(a);
          },
        });
      }
    };
    const lanes = Promise.all([lane(), lane(), lane(), lane()]);
    const ackedByA = () => attempts.filter((a) => a.target === 'A' && a.status === 200).length;
    // Kill A once it has answered some requests and is holding others (in the same tick as the check).
    const killed = await waitUntil(
      () => {
        if (ackedByA() < 6 || inFlight.A < 2) return false;
        ingestA.child.kill('SIGKILL');
        return (killedA = true);
      },
      120_000,
      20,
    );
    expect(killed).toBe(true);
    await exit(ingestA);
    expect(ingestA.child.signalCode).toBe('SIGKILL');
    await lanes;

    // The client's view: each event acknowledged exactly where its final 200 (or partial 503) came from.
    const ackedBy = new Map<string, string>();
    for (const a of attempts) for (const id of a.acked) ackedBy.set(id, a.target);
    expect(ackedBy.size).toBe(events.length); // the client resent until everything was acknowledged
    const unansweredByA = new Set(
      attempts.filter((a) => a.target === 'A' && a.status === 'no-answer').flatMap((a) => a.ids),
    );
    expect(unansweredByA.size).toBeGreaterThan(0); // the kill really cut requests in flight
    expect([...ackedBy.values()].filter((t) => t === 'A').length).toBeGreaterThan(0);
    // B never failed to answer (it was never killed); a 503 from it accepted nothing it did not say.
    expect(attempts.filter((a) => a.target === 'B' && a.status === 'no-answer')).toEqual([]);

    // An archived batch whose stats delivery was in flight at the kill reaches the stats only through
    // reconciliation (docs/architecture.md: the documented guarantee for a process crash). Let B finish
    // its deliveries first, then reconcile the hour.
    expect(
      await waitUntil(async () => {
        const res = await fetch(`${target.B.url}/v1/health`, { signal: AbortSignal.timeout(2000) });
        return ((await res.json()) as { pendingEvents: number }).pendingEvents === 0;
      }, 60_000),
    ).toBe(true);
    await faults.proxy.clearAll();
    const { handle } = await startReconcile(temporal.client, config, {
      from: hour,
      to: new Date(Date.parse(hour) + HOUR_MS).toISOString(),
      regions: ['us-east-1'],
      options: { settleMs: 500, attemptBudget: 3 },
    });
    const report = await handle.result();
    expect(report.verdict).toBe('equal');

    // The archive: every event in it; an acknowledged event in exactly one object.
    const byKey = await archiveByKey(reader, config, 'us-east-1', hour);
    const objectsOf = new Map<string, number>();
    for (const { ids } of byKey.values())
      for (const id of ids) objectsOf.set(id, (objectsOf.get(id) ?? 0) + 1);
    expect(events.filter((e) => !objectsOf.has(e.id)).map((e) => e.id)).toEqual([]);
    // Honestly: an event of a request A never answered, whose batch PUT landed before the kill, was resent
    // (to B, as the client must) and so sits in two objects, once in A's batch and once in B's. Readers and
    // the stats count it once (the stats API is idempotent by ID; reconciliation reads distinct IDs); the
    // sealed hour (issue 14) collapses such copies. What must never be in two objects is an event that was
    // acknowledged without a resend: the client was told it was kept, and kept once.
    const twice = [...objectsOf].filter(([, n]) => n > 1).map(([id]) => id);
    expect(twice.filter((id) => !unansweredByA.has(id))).toEqual([]);
    expect(Math.max(...objectsOf.values())).toBeLessThanOrEqual(2);
    const ackedOnFirstTry = events.filter((e) => !unansweredByA.has(e.id));
    expect(ackedOnFirstTry.filter((e) => objectsOf.get(e.id) !== 1).map((e) => e.id)).toEqual([]);

    // The stats: every event counted, once.
    expect(await statsHour(config, 'us-east-1', events[0]!.timestamp)).toMatchObject({
      count: events.length,
      digest: IdDigest.of(events.map((e) => e.id)).toHex(),
    });
  });

  it('a worker SIGKILLed while captures run: the other worker finishes them, each event once', async () => {
    expect(alive(ingestB)).toBe(true);
    expect(workers.every(alive)).toBe(true);
    const [victim, survivor] = workers as [Proc, Proc];
    const events = makeEvents(2000); // an hour of their own
    const hour = events[0]!.timestamp.slice(0, 13);
    // The S3 client percent-encodes the key's "=" signs.
    const pathRegex = `region(=|%3D)us-east-1/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
    for (const l of ['s3-us-east-1', 's3-us-west-2'])
      await faults.proxy.setFault(l, { mode: 'error', status: 503, format: 's3', pathRegex });

    // Every bucket refuses this hour: the surviving ingest captures each batch (with its object).
    const answers: IngestAnswer[] = [];
    await sendUntilAccepted(events, {
      giveUpAt: Date.now() + 120_000,
      target: () => target.B,
      onAttempt: (a) => a.body && a.status === 200 && answers.push(a.body),
    });
    const ids = answers.flatMap(capturedIds);
    expect(ids.length).toBe(answers.flatMap((a) => a.batches ?? []).length);
    expect(ids.length).toBeGreaterThanOrEqual(8);
    const handles = ids.map((id) => temporal.client.workflow.getHandle(id));

    // Workflow tasks name the worker that ran them (`<pid>@<host>`). Wait until the victim holds some of
    // the captures and every capture has been tried and is waiting for S3.
    const ranBy = async (h: WorkflowHandle): Promise<string[]> => {
      const history = await h.fetchHistory();
      return (history.events ?? []).flatMap((e) => {
        const id = e.workflowTaskCompletedEventAttributes?.identity;
        return id ? [id] : [];
      });
    };
    const pidOf = (p: Proc) => `${p.child.pid}@`;
    let victimHeld: WorkflowHandle[] = [];
    const ready = await waitUntil(
      async () => {
        const statuses = await Promise.all(handles.map((h) => h.query<BatchStatus>('batchStatus')));
        if (!statuses.every((s) => s.state === 'captured')) return false;
        const runners = await Promise.all(handles.map(ranBy));
        victimHeld = handles.filter((_, i) => runners[i]!.some((id) => id.startsWith(pidOf(victim))));
        return victimHeld.length > 0;
      },
      90_000,
      500,
    );
    expect(ready).toBe(true);

    // SIGKILL the victim mid-capture: its batches are captured, retrying on timers it held.
    await sigkill(victim);
    expect(victim.child.signalCode).toBe('SIGKILL');
    const running = await Promise.all(victimHeld.map((h) => h.describe()));
    expect(running.every((d) => d.status.name === 'RUNNING')).toBe(true);

    // S3 is back: the survivor alone finishes every capture, the victim's too.
    await faults.proxy.clearAll();
    const results = await Promise.all(handles.map((h) => h.result() as Promise<BatchStatus>));
    expect(results.map((r) => r.state)).toEqual(results.map(() => 'done'));
    for (const h of victimHeld) {
      const runners = await ranBy(h);
      expect(runners.at(-1)).toMatch(new RegExp(`^${pidOf(survivor)}`));
    }
    const byKey = await expectEachEventOnce(reader, config, events);
    expect(byKey.size).toBe(ids.length);
  });
});
