import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { CapsClient } from '../../src/client/caps';
import { CapLedgerClient } from '../../src/client/capLedgerClient';
import { connectClient } from '../../src/client/connect';
import { startReconcile } from '../../src/client/reconcile';
import type { AppConfig } from '../../src/config/schema';
import { readSecret } from '../../src/config/secrets';
import { hourOf } from '../../src/shared/batch';
import type { CapLedgerStatus } from '../../src/shared/capLedger';
import { HOUR_MS } from '../../src/shared/reconcile';
import type { CapDefinition } from '../../src/shared/caps';
import type { TrackingEvent } from '../../src/shared/event';
import { INGEST_NODE_FLAGS, startNodeProcess, stopProcess } from '../../src/stack/nodeProcess';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEvents, ndjson, type IngestAnswer } from '../helpers/pipeline';
import { unusedPort } from '../helpers/ports';
import { tcpLink, type TcpLink } from '../helpers/tcpLink';
import { runWorker } from '../helpers/temporal';
import { archivedEvents, statsHour } from '../helpers/verify';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook';

jest.setTimeout(300_000);

interface Ingest {
  name: string;
  url: string;
  child: ChildProcess;
  output: () => string;
}

/**
 * Issue 15 on the real stack: two ingest processes in two regions enforce one hard cap from leased grants.
 * Ingest A reaches Temporal through a TCP link of this test's own, which is cut for longer than a lease;
 * ingest B is SIGKILLed holding a grant. Traffic is twice the cap. Each holder's stranded grant is
 * reported and, once its lease ended and the archive counted what it spent, reclaimed, so accepted-within-
 * cap ends at the limit exactly: never above it, and not below by what was stranded.
 */
describe('a hard cap enforced by two ingests, one cut off from Temporal and one killed', () => {
  const LIMIT = 200;
  let base: AppConfig;
  let config: AppConfig;
  let link: TcpLink;
  let hook: WebhookReceiver;
  let dir: string;
  let reader: AwsClients;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let stopWorker: () => Promise<void>;
  let A: Ingest;
  let B: Ingest;
  let headers: Record<string, string>;
  const cap: CapDefinition = {
    id: uniqueName('cap'),
    scope: { offerId: uniqueName('offer') },
    metric: 'conversions',
    window: { kind: 'lifetime' },
    limit: LIMIT,
    mode: 'hard',
  };

  beforeAll(async () => {
    base = testConfig();
    hook = await webhookReceiver();
    config = {
      ...base,
      temporal: { ...base.temporal, taskQueue: uniqueName('caps-enforce') },
      caps: {
        ...base.caps,
        registryWorkflowId: uniqueName('cap-registry'),
        refreshMs: 1000,
        leaseMs: 6000,
        leaseMarginMs: 1000,
        grantFraction: 0.05,
        updateTimeoutMs: 2000,
        waitForAllowanceMs: 1500,
        reclaimAfterMs: 2000,
      },
      notifications: { ...base.notifications, webhookUrl: hook.url },
      metrics: undefined,
      log: { level: 'warn' },
    };
    temporal = await connectClient(config);
    stopWorker = await runWorker(config);
    await new CapsClient(temporal.client, config).create(cap, 'test');
    link = await tcpLink(config.temporal.address);
    dir = mkdtempSync(join(tmpdir(), 'stormproof-caps-'));
    reader = createAwsClients(base);
    headers = { authorization: `Bearer ${readSecret(config.ingestAuth!.tokens![0]!).value}` };
    const start = async (name: string, region: string, temporalAddress: string): Promise<Ingest> => {
      const port = await unusedPort();
      const path = join(dir, `${name}.json`);
      const own: AppConfig = {
        ...config,
        temporal: { ...config.temporal, address: temporalAddress },
        ingest: { ...config.ingest, port, region },
      };
      writeFileSync(path, JSON.stringify(own));
      const child = startNodeProcess(
        'src/ingest/main.ts',
        { STORMPROOF_CONFIG: path, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        undefined,
        INGEST_NODE_FLAGS,
      );
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      return { name, url: `http://127.0.0.1:${port}`, child, output: () => output };
    };
    [A, B] = await Promise.all([
      start('ingest-a', 'us-east-1', link.address),
      start('ingest-b', 'us-west-2', config.temporal.address),
    ]);
    const healthy = (i: Ingest) =>
      fetch(`${i.url}/v1/health`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
    if (!(await waitUntil(async () => (await healthy(A)) && (await healthy(B)), 120_000, 250)))
      throw new Error(`the ingests did not come up:\n${A.output()}\n${B.output()}`);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([A, B].filter(Boolean).map((i) => stopProcess(i.child)));
    await stopWorker?.();
    await temporal?.close();
    await link?.close();
    await hook?.close();
    reader?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const events: TrackingEvent[] = makeEvents(2 * LIMIT, 'us-east-1').map((e) => ({
    ...e,
    type: 'conversion',
    offerId: cap.scope.offerId,
  }));
  let cursor = 0;
  const acked: TrackingEvent[] = [];
  /** Sends the next `n` events to one ingest in requests of 10; each must be acknowledged (200). */
  const send = async (to: Ingest, n: number): Promise<void> => {
    for (const end = cursor + n; cursor < end;) {
      const chunk = events.slice(cursor, (cursor = Math.min(end, cursor + 10)));
      const res = await fetch(`${to.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', ...headers },
        body: ndjson(chunk),
        signal: AbortSignal.timeout(60_000),
      });
      const body = (await res.json()) as IngestAnswer;
      if (res.status !== 200) throw new Error(`${to.name} answered ${res.status}: ${JSON.stringify(body)}`);
      acked.push(...chunk);
    }
  };
  const ledger = (): Promise<CapLedgerStatus | undefined> =>
    new CapLedgerClient(temporal.client, config).status(cap.id, 'lifetime');
  const holderOf = async (i: Ingest): Promise<string> => {
    const res = await fetch(`${i.url}/v1/allowances`, { headers, signal: AbortSignal.timeout(5000) });
    return ((await res.json()) as { holder: string }).holder;
  };

  it('never accepts more than the limit within it, loses nothing, and reclaims stranded grants', async () => {
    // Both hold grants and spend them.
    await send(A, 60);
    await send(B, 60);
    const [holderA, holderB] = [await holderOf(A), await holderOf(B)];

    // A cut off from Temporal for longer than a lease: it spends what it holds, then judges exceeded.
    link.cut();
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
      hook.got.filter((g) => JSON.stringify(g.body).includes('lease ended unrenewed')).length;
    expect(await waitUntil(() => strandedAlerts() >= 2, 30_000, 200)).toBe(true);

    // A back: it reports, gets the room the others left, and the rest of the traffic is judged.
    link.heal();
    // Until A's client has reconnected and renewed, A rightly judges exceeded; the rest is sent after.
    const renewed = await waitUntil(
      async () => {
        const res = await fetch(`${A.url}/v1/allowances`, { headers, signal: AbortSignal.timeout(5000) });
        const { allowances } = (await res.json()) as { allowances: { spendableUntil: string }[] };
        return allowances.some((a) => Date.parse(a.spendableUntil) > Date.now() + 2000);
      },
      60_000,
      250,
    );
    expect(renewed).toBe(true);
    await send(A, events.length - cursor);

    const hour = hourOf(events[0]!.timestamp);
    const archived = (await archivedEvents(reader, base, 'us-east-1', hour)).flatMap((o) => o.events);
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
    const spentByA = async (): Promise<number> => {
      const res = await fetch(`${A.url}/v1/allowances`, { headers, signal: AbortSignal.timeout(5000) });
      return ((await res.json()) as { allowances: { spent: number }[] }).allowances[0]!.spent;
    };
    const before = await spentByA();
    // The last request of the first phase, judged within by A, sent again as it was (one batch).
    const lastTen = events.slice(50, 60);
    expect(lastTen.every((e) => byId.get(e.id)?.capHolder === holderA)).toBe(true);
    expect(lastTen.every((e) => byId.get(e.id)?.capStatus === 'within')).toBe(true);
    const resent = await fetch(`${A.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...headers },
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
    const copies = (await archivedEvents(reader, base, 'us-east-1', hour))
      .flatMap((o) => o.events)
      .filter((e) => lastTen.some((r) => r.id === e.id));
    expect(copies).toHaveLength(10);
    expect(copies.every((e) => e.capStatus === 'within')).toBe(true);

    // B died with deliveries in flight: the hour's reconciliation replays them from the archive, judgement
    // included, and the stats API counts the exceeded apart.
    const { handle } = await startReconcile(temporal.client, config, {
      from: hour,
      to: new Date(Date.parse(hour) + HOUR_MS).toISOString(),
      regions: ['us-east-1'],
      options: { settleMs: 500, attemptBudget: 3 },
    });
    expect((await handle.result()).verdict).toBe('equal');
    const stats = await statsHour(base, 'us-east-1', events[0]!.timestamp);
    expect(stats).toMatchObject({ count: acked.length, capExceeded: exceeded.length });
  });
});
