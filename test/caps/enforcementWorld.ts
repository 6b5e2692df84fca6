import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { CapsClient } from '../../src/client/caps';
import { CapLedgerClient } from '../../src/client/capLedgerClient';
import { connectClient } from '../../src/client/connect';
import type { AppConfig } from '../../src/config/schema';
import { readSecret } from '../../src/config/secrets';
import type { CapLedgerStatus } from '../../src/shared/capLedger';
import type { CapDefinition } from '../../src/shared/caps';
import type { TrackingEvent } from '../../src/shared/event';
import { INGEST_NODE_FLAGS, startNodeProcess, stopProcess } from '../../src/stack/nodeProcess';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import type { IngestAnswer } from '../helpers/pipeline';
import { sendUntilAccepted } from '../helpers/resendingClient';
import { unusedPort } from '../helpers/ports';
import { tcpLink, type TcpLink } from '../helpers/tcpLink';
import { runWorker } from '../helpers/temporal';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook';

export interface Ingest {
  name: string;
  url: string;
  child: ChildProcess;
  output: () => string;
}

export interface IngestSpec {
  name: string;
  region: string;
  /** Reaches Temporal through the world's TCP link (which the test can cut). */
  viaLink?: boolean;
}

export interface EnforcementWorld {
  base: AppConfig;
  /** A task queue, a registry and short leases of this world's own; alerts to `hook`. */
  config: AppConfig;
  link: TcpLink;
  hook: WebhookReceiver;
  reader: AwsClients;
  temporal: Awaited<ReturnType<typeof connectClient>>;
  ingests: Record<string, Ingest>;
  headers: Record<string, string>;
  dir: string;
  /** POSTs events to an ingest in requests of 10, each until acknowledged; the 200 answers. */
  send(to: Ingest, events: TrackingEvent[]): Promise<IngestAnswer[]>;
  /** What an ingest holds (GET /v1/allowances). */
  allowances(to: Ingest): Promise<{
    holder: string;
    /** The holder session it renews (capHolderSession's workflow ID). */
    session: string;
    allowances: { capId: string; granted: number; spent: number; spendableUntil: string }[];
  }>;
  ledger(capId: string, window: string): Promise<CapLedgerStatus | undefined>;
  stop(): Promise<void>;
}

/**
 * Ingest processes (their `main`) enforcing `caps` on the test stack, with an in-process worker: leases of
 * 6 s (5 s usable), grants of 5% of the limit, ledgers reclaiming 2 s after a lease ends.
 */
export async function startEnforcementWorld(
  caps: CapDefinition[],
  specs: IngestSpec[],
): Promise<EnforcementWorld> {
  const base = testConfig();
  const hook = await webhookReceiver();
  const config: AppConfig = {
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
  const temporal = await connectClient(config);
  const stopWorker = await runWorker(config);
  const registry = new CapsClient(temporal.client, config);
  for (const cap of caps) await registry.create(cap, 'test');
  const link = await tcpLink(config.temporal.address);
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-caps-'));
  const reader = createAwsClients(base);
  const headers = { authorization: `Bearer ${readSecret(config.ingestAuth!.tokens![0]!).value}` };

  const start = async (spec: IngestSpec): Promise<Ingest> => {
    const port = await unusedPort();
    const path = join(dir, `${spec.name}.json`);
    const own: AppConfig = {
      ...config,
      temporal: { ...config.temporal, address: spec.viaLink ? link.address : config.temporal.address },
      ingest: { ...config.ingest, port, region: spec.region },
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
    return { name: spec.name, url: `http://127.0.0.1:${port}`, child, output: () => output };
  };
  const list = await Promise.all(specs.map(start));
  const ingests = Object.fromEntries(list.map((i) => [i.name, i]));
  const healthy = (i: Ingest) =>
    fetch(`${i.url}/v1/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
  const stop = async (): Promise<void> => {
    await Promise.all(list.map((i) => stopProcess(i.child)));
    // Lifetime ledgers never close by themselves: end this world's, and its registry.
    const ledgers = temporal.client.workflow.list({
      query: `WorkflowType = 'capLedger' AND ExecutionStatus = 'Running' AND TaskQueue = '${config.temporal.taskQueue}'`,
    });
    for await (const l of ledgers)
      await temporal.client.workflow
        .getHandle(l.workflowId)
        .terminate('test done')
        .catch(() => undefined);
    await temporal.client.workflow
      .getHandle(config.caps.registryWorkflowId)
      .terminate('test done')
      .catch(() => undefined);
    await stopWorker();
    await temporal.close();
    await link.close();
    await hook.close();
    reader.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  const up = await waitUntil(async () => (await Promise.all(list.map(healthy))).every(Boolean), 120_000, 250);
  if (!up) {
    const outputs = list.map((i) => `--- ${i.name}\n${i.output()}`).join('\n');
    await stop();
    throw new Error(`the ingests did not come up:\n${outputs}`);
  }

  return {
    base,
    config,
    link,
    hook,
    reader,
    temporal,
    ingests,
    headers,
    dir,
    async send(to, events) {
      const answers: IngestAnswer[] = [];
      const target = { name: to.name, url: to.url, headers };
      // As a tracking service does: a 503 (a fresh process refusing while saturated) is resent after
      // Retry-After; a resent event is judged as before.
      for (let i = 0; i < events.length; i += 10)
        await sendUntilAccepted(events.slice(i, i + 10), {
          target: () => target,
          giveUpAt: Date.now() + 120_000,
          onAttempt: (a) => void (a.status === 200 && a.body && answers.push(a.body)),
        });
      return answers;
    },
    async allowances(to) {
      const res = await fetch(`${to.url}/v1/allowances`, { headers, signal: AbortSignal.timeout(5000) });
      return (await res.json()) as Awaited<ReturnType<EnforcementWorld['allowances']>>;
    },
    ledger: (capId, window) => new CapLedgerClient(temporal.client, config).status(capId, window),
    stop,
  };
}

/**
 * Waits until an ingest that a partition cut off (its lease ended, its grant reclaimed) reached the lifetime
 * ledger of `capId` again after `since`: it holds a lease renewed later (spendable past since + the usable
 * lease, which only an answer to a request sent later gives), or it gave back its idle allowance (the
 * ledger has it returned; a cut-off holder's state changes only by its own word).
 */
export async function reachedLedgerAgain(
  w: EnforcementWorld,
  to: Ingest,
  capId: string,
  since: number,
): Promise<boolean> {
  const usable = w.config.caps.leaseMs - w.config.caps.leaseMarginMs;
  return waitUntil(
    async () => {
      const { holder, allowances } = await w.allowances(to);
      if (allowances.some((a) => a.capId === capId && Date.parse(a.spendableUntil) >= since + usable))
        return true;
      const ledger = await w.ledger(capId, 'lifetime');
      return ledger?.holders.find((h) => h.holder === holder)?.state === 'returned';
    },
    60_000,
    250,
  );
}
