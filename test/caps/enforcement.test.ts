import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startReconcile } from '../../src/client/reconcile';
import { hourOf } from '../../src/shared/batch';
import type { CapLedgerStatus } from '../../src/shared/capLedger';
import { holderSessionId } from '../../src/shared/holderSession';
import type { CapDefinition } from '../../src/shared/caps';
import type { TrackingEvent } from '../../src/shared/event';
import { HOUR_MS } from '../../src/shared/reconcile';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import { makeEvents, ndjson, type IngestAnswer } from '../helpers/pipeline';
import { archivedEvents, statsHour } from '../helpers/verify';
import {
  reachedLedgerAgain,
  startEnforcementWorld,
  type EnforcementWorld,
  type Ingest,
} from './enforcementWorld';

jest.setTimeout(300_000);

const run = promisify(execFile);

/**
 * Issue 15 on the real stack: two ingest processes in two regions enforce one hard cap from leased grants.
 * Ingest A reaches Temporal through a TCP link of this test's own, which is cut for longer than a lease;
 * ingest B is SIGKILLed holding a grant. Traffic is twice the cap. Each holder's stranded grant is
 * reported and, once its lease ended and the archive counted what it spent, reclaimed, so accepted-within-
 * cap ends at the limit exactly: never above it, and not below by what was stranded.
 */
describe('a hard cap enforced by two ingests, one cut off from Temporal and one killed', () => {
  const LIMIT = 200;
  const cap: CapDefinition = {
    id: uniqueName('cap'),
    scope: { offerId: uniqueName('offer') },
    metric: 'conversions',
    window: { kind: 'lifetime' },
    limit: LIMIT,
    mode: 'hard',
  };
  let w: EnforcementWorld;
  let A: Ingest;
  let B: Ingest;

  beforeAll(async () => {
    w = await startEnforcementWorld(
      [cap],
      [
        { name: 'A', region: 'us-east-1', viaLink: true },
        { name: 'B', region: 'us-west-2' },
      ],
    );
    ({ A, B } = w.ingests as { A: Ingest; B: Ingest });
  }, 180_000);
  afterAll(() => w?.stop());

  const events: TrackingEvent[] = makeEvents(2 * LIMIT, 'us-east-1').map((e) => ({
    ...e,
    type: 'conversion',
    offerId: cap.scope.offerId,
  }));
  let cursor = 0;
  const acked: TrackingEvent[] = [];
  /** Sends the next `n` events to one ingest; each request must be acknowledged (200). */
  const send = async (to: Ingest, n: number): Promise<void> => {
    const next = events.slice(cursor, (cursor += n));
    await w.send(to, next);
    acked.push(...next);
  };
  const ledger = () => w.ledger(cap.id, 'lifetime');

  it('never accepts more than the limit within it, loses nothing, and reclaims stranded grants', async () => {
    // Both hold grants and spend them.
    await send(A, 60);
    await send(B, 60);
    const [holderA, holderB] = [(await w.allowances(A)).holder, (await w.allowances(B)).holder];

    // A cut off from Temporal for longer than a lease: it spends what it holds, then judges exceeded.
    w.link.cut();
    await send(A, 60);
    // B goes on; then B dies holding part of a grant.
    await send(B, 40);
    const exited = once(B.child, 'exit');
    B.child.kill('SIGKILL');
    await exited;

    // Both leases end unrenewed: stranded, then counted from the archive and reclaimed.
    const stateOf = (s: CapLedgerStatus | undefined, holder: string) =>
      s?.holders.find((h) => h.holder === holder)?.state;
    let status: CapLedgerStatus | undefined;
    const reclaimed = await waitUntil(
      async () => {
        status = await ledger();
        return stateOf(status, holderA) === 'reclaimed' && stateOf(status, holderB) === 'reclaimed';
      },
      120_000,
      500,
    );
    if (!reclaimed) throw new Error(`not reclaimed: ${JSON.stringify(status)}\n${A.output()}`);
    expect(status!.spent).toBeLessThanOrEqual(LIMIT);
    const strandedAlerts = () =>
      w.hook.got.filter((g) => JSON.stringify(g.body).includes('lease ended unrenewed')).length;
    expect(await waitUntil(() => strandedAlerts() >= 2, 30_000, 200)).toBe(true);

    // A back: it reports, gets the room the others left, and the rest of the traffic is judged.
    const healedAt = Date.now();
    w.link.heal();
    // Until A's client has reconnected and renewed, A rightly judges exceeded; the rest is sent after.
    expect(await reachedLedgerAgain(w, A, cap.id, healedAt)).toBe(true);
    // Cut off past its lease, A's first session ended (and told the ledger): A finds that at its next
    // renewal or request, and starts a second one.
    const secondSession = await waitUntil(
      async () => (await w.allowances(A)).session === holderSessionId(holderA, 2),
      60_000,
      250,
    );
    expect(secondSession).toBe(true);
    await send(A, events.length - cursor);

    const hour = hourOf(events[0]!.timestamp);
    const archived = (await archivedEvents(w.reader, w.base, 'us-east-1', hour)).flatMap((o) => o.events);
    const byId = new Map(archived.map((e) => [e.id, e]));
    // Nothing lost, nothing twice, every event judged.
    expect(archived).toHaveLength(acked.length);
    expect(new Set(byId.keys())).toEqual(new Set(acked.map((e) => e.id)));
    expect(acked).toHaveLength(2 * LIMIT);
    const within = archived.filter((e) => e.capStatus === 'within');
    const exceeded = archived.filter((e) => e.capStatus === 'exceeded');
    expect(within.length + exceeded.length).toBe(archived.length);
    expect(exceeded.every((e) => e.capId === cap.id)).toBe(true);
    // The cap holds, and what was stranded came back: within is the limit exactly.
    expect(within.length).toBe(LIMIT);
    // The ledger agrees, and the stats API counts the exceeded apart.
    const final = await ledger();
    expect(final!.spent).toBeLessThanOrEqual(LIMIT);
    expect(final!.reclaimed).toBeGreaterThan(0);
    // A resend (an answer lost) is judged as before and spends nothing again.
    const spentByA = async (): Promise<number> => (await w.allowances(A)).allowances[0]!.spent;
    const before = await spentByA();
    // The last request of the first phase, judged within by A, sent again as it was (one batch).
    const lastTen = events.slice(50, 60);
    expect(lastTen.every((e) => byId.get(e.id)?.capHolder === holderA)).toBe(true);
    expect(lastTen.every((e) => byId.get(e.id)?.capStatus === 'within')).toBe(true);
    const resent = await fetch(`${A.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...w.headers },
      body: ndjson(lastTen),
      signal: AbortSignal.timeout(60_000),
    });
    expect(resent.status).toBe(200);
    expect(await spentByA()).toBe(before);
    // Judged the same, the resent batch is the same object (its key comes from the IDs): the conditional PUT
    // finds it archived. A judgement that changed (the cap is spent by now) would conflict with it.
    const answer = (await resent.json()) as IngestAnswer;
    expect(answer.batches!.length).toBeGreaterThan(0);
    expect(answer.batches!.every((b) => b.archived && !b.captureWorkflowId)).toBe(true);
    const copies = (await archivedEvents(w.reader, w.base, 'us-east-1', hour))
      .flatMap((o) => o.events)
      .filter((e) => lastTen.some((r) => r.id === e.id));
    expect(copies).toHaveLength(10);
    expect(copies.every((e) => e.capStatus === 'within')).toBe(true);

    // B died with deliveries in flight: the hour's reconciliation replays them from the archive, judgement
    // included, and the stats API counts the exceeded apart.
    const { handle } = await startReconcile(w.temporal.client, w.config, {
      from: hour,
      to: new Date(Date.parse(hour) + HOUR_MS).toISOString(),
      regions: ['us-east-1'],
      options: { settleMs: 500, attemptBudget: 3 },
    });
    expect((await handle.result()).verdict).toBe('equal');
    const stats = await statsHour(w.base, 'us-east-1', events[0]!.timestamp);
    expect(stats).toMatchObject({ count: acked.length, capExceeded: exceeded.length });

    // What an operator sees: `stormproof caps status`, in words and as JSON.
    const cliConfig = join(w.dir, 'cli.json');
    writeFileSync(cliConfig, JSON.stringify(w.config));
    const cli = (...args: string[]) =>
      run('npx', ['tsx', 'src/cli/main.ts', 'caps', 'status', '--id', cap.id, ...args], {
        env: { ...process.env, STORMPROOF_CONFIG: cliConfig },
        timeout: 60_000,
      });
    const text = (await cli()).stdout;
    expect(text).toMatch(new RegExp(`limit ${LIMIT} · spent \\d+ · committed \\d+`));
    expect(text).toContain(`${holderB} (us-west-2) reclaimed`);
    const [row] = JSON.parse((await cli('--json')).stdout) as { status: CapLedgerStatus }[];
    expect(row!.status.holders.map((h) => h.holder).sort()).toEqual([holderA, holderB].sort());
    expect(row!.status.spent).toBeLessThanOrEqual(LIMIT);
  });
});
