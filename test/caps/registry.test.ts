import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { CapsClient } from '../../src/client/caps';
import { connectClient } from '../../src/client/connect';
import type { AppConfig } from '../../src/config/schema';
import type { CapDefinition, StoredCap } from '../../src/shared/caps';
import { DAILY_CAP, startCapsWorld, type CapsWorld } from './world';

jest.setTimeout(120_000);

const HARD = DAILY_CAP;

/** Why a change was refused: the registry's message, which the Update failure carries as its cause. */
async function refusal(change: Promise<unknown>): Promise<string> {
  const err = await change.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return ((err as Error).cause as Error).message;
}

/** The cap registry on the real Temporal dev server: validated, durable, attributed changes. */
describe('cap registry', () => {
  let world: CapsWorld;
  let config: AppConfig;
  let client: Client;
  let caps: CapsClient;
  beforeAll(async () => {
    world = await startCapsWorld();
    ({ config, client } = world);
    // A low threshold: the test's changes make the registry continue as new more than once.
    caps = new CapsClient(client, config, 40);
  });
  afterAll(() => world?.stop());

  it('refuses an invalid definition naming every field at fault, and keeps nothing of it', async () => {
    const bad = {
      ...HARD,
      id: 'Bad ID',
      window: { kind: 'day', timeZone: 'Mars/Olympus_Mons' },
      limit: 12.5,
      overdraftPerRegion: 10,
      colour: 'red',
    } as unknown as CapDefinition;
    const why = await refusal(caps.create(bad, 'jest'));
    expect(why).toMatch(/^cap Bad ID is not valid: /);
    expect(why).toContain('id: lower-case letters');
    expect(why).toContain('window.timeZone: not an IANA time zone');
    expect(why).toContain('limit: a count of conversions must be a whole number');
    expect(why).toContain('overdraftPerRegion: a hard cap has no overdraft');
    expect(why).toMatch(/colour/);

    const soft = await refusal(caps.create({ ...HARD, id: 'soft-1', mode: 'soft' }, 'jest'));
    expect(soft).toContain('overdraftPerRegion: a soft cap needs the overdraft');
    const fallback = await refusal(
      caps.create({ ...HARD, id: 'conv-1', fallbackUrl: 'https://x.test/' }, 'jest'),
    );
    expect(fallback).toContain('fallbackUrl: only clicks are redirected');
    expect(await refusal(caps.create({ ...HARD, id: 'nobody' }, ' '))).toContain('say who makes the change');
    const odd = {
      id: 'clicks-1',
      scope: { offerId: '', partner: 'p' },
      metric: 'clicks',
      payoutAttribute: 'revenue',
      window: { kind: 'lifetime', timeZone: 'UTC' },
      limit: Infinity,
      mode: 'strict',
      fallbackUrl: 'ftp://example.com/x',
    } as unknown as CapDefinition;
    expect((await refusal(caps.create(odd, 'jest'))).split('; ')).toEqual([
      'cap clicks-1 is not valid: scope.offerId: expected 1 to 64 characters',
      'scope.partner: not a field of a scope',
      'payoutAttribute: only a payout cap sums an attribute',
      'window.timeZone: a lifetime window has no time zone',
      'limit: expected a number above 0 and at most 1000000000000',
      'mode: one of hard, soft',
      'fallbackUrl: expected an http(s) URL',
    ]);
    expect(await caps.list()).toEqual([]);
  });

  it('creates, updates at a revision, lists and deletes, recording who and when; survives continue-as-new', async () => {
    const first = await caps.create(HARD, 'alice');
    expect(first).toMatchObject({ ...HARD, revision: 1, updatedBy: 'alice' });
    expect(await refusal(caps.create(HARD, 'bob'))).toContain('cap offer-1-daily exists already');

    const clicks: CapDefinition = {
      id: 'offer-2-aff-7-clicks',
      scope: { offerId: 'offer-2', affiliateId: 'aff-7' },
      metric: 'clicks',
      window: { kind: 'lifetime' },
      limit: 10_000,
      mode: 'soft',
      overdraftPerRegion: 250,
      fallbackUrl: 'https://fallback.example/offer-2',
    };
    await caps.create(clicks, 'alice');
    const payout: CapDefinition = {
      id: 'offer-3-payout',
      scope: { offerId: 'offer-3' },
      metric: 'payout',
      payoutAttribute: 'revenue',
      window: { kind: 'month', timeZone: 'America/New_York' },
      limit: 2500.5,
      mode: 'hard',
    };
    await caps.create(payout, 'carol');

    // Many changes: each update is validated and accepted in history, so the registry continues as new.
    const registry = client.workflow.getHandle(config.caps.registryWorkflowId);
    const firstRun = (await registry.describe()).runId;
    let current: StoredCap = first;
    for (let limit = 501; limit <= 530; limit++) {
      current = await caps.update({ ...HARD, limit }, 'bob', current.revision);
    }
    expect(current).toMatchObject({ limit: 530, revision: 31, updatedBy: 'bob', createdAt: first.createdAt });
    expect((await registry.describe()).runId).not.toBe(firstRun);

    const stale = await refusal(caps.update({ ...HARD, limit: 1 }, 'dave', 3));
    expect(stale).toContain('cap offer-1-daily is at revision 31, not 3: it changed meanwhile (last by bob)');
    expect(await refusal(caps.update({ ...HARD, id: 'nope' }, 'dave'))).toMatch(/^no cap nope \(known: /);

    const removed = await caps.delete('offer-2-aff-7-clicks', 'erin');
    expect(removed).toMatchObject(clicks);
    expect(await refusal(caps.delete('offer-2-aff-7-clicks', 'erin'))).toContain(
      'no cap offer-2-aff-7-clicks',
    );

    // What a new client (another process) sees, after continue-as-new: the definitions as last changed.
    const { client: other, close } = await connectClient(config);
    try {
      const listed = await new CapsClient(other, config).list();
      expect(listed.map((c) => c.id).sort()).toEqual(['offer-1-daily', 'offer-3-payout']);
      expect(listed.find((c) => c.id === 'offer-3-payout')).toMatchObject({ ...payout, updatedBy: 'carol' });
    } finally {
      await close();
    }
  });

  it('is managed by the CLI: create, update one field, list as JSON, delete; a bad option names its field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stormproof-caps-'));
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(config));
    const cli = async (...args: string[]) => {
      const r = await promisify(execFile)('node_modules/.bin/tsx', ['src/cli/main.ts', 'caps', ...args], {
        env: { ...process.env, STORMPROOF_CONFIG: configPath },
      }).catch((e: { stdout: string; stderr: string; code: number }) => e);
      return { stdout: r.stdout, stderr: r.stderr, code: 'code' in r ? r.code : 0 };
    };
    try {
      const created = await cli(
        'create',
        '--id=cli-cap',
        '--offer=offer-9',
        '--metric=conversions',
        '--window=day',
        '--time-zone=Asia/Tokyo',
        '--limit=100',
        '--mode=hard',
        '--by=ops',
      );
      expect(created.stdout).toContain('cli-cap (revision 1');
      expect(created.stdout).toContain('100 conversions of offer offer-9 per day (Asia/Tokyo), hard');

      const updated = await cli('update', '--id=cli-cap', '--limit=150', '--by=ops', '--json');
      expect(JSON.parse(updated.stdout)).toMatchObject({
        limit: 150,
        revision: 2,
        window: { timeZone: 'Asia/Tokyo' },
      });

      const bad = await cli('update', '--id=cli-cap', '--time-zone=Nowhere/Town', '--by=ops');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('window.timeZone: not an IANA time zone');

      const listed = JSON.parse((await cli('list', '--json')).stdout) as StoredCap[];
      expect(listed.find((c) => c.id === 'cli-cap')).toMatchObject({ limit: 150, updatedBy: 'ops' });

      expect((await cli('delete', '--id=cli-cap', '--by=ops')).stdout).toContain('deleted cli-cap');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
