import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { AwsClients } from '../../src/aws/clients';
import { homeBucket } from '../../src/config/localStack';
import { loadConfig } from '../../src/config/load';
import { hourPrefix } from '../../src/archive/format';
import { hourOf } from '../../src/shared/batch';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { sideOf, startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

const run = promisify(execFile);
const repo = join(__dirname, '..', '..');
const tsx = join(repo, 'node_modules', '.bin', 'tsx');

/** Every object of the hour in the home bucket, as key → the SHA-256 its manifest records. */
async function archived(aws: AwsClients, hour: string): Promise<Map<string, string>> {
  const s3 = aws.s3('us-east-1');
  const bucket = homeBucket('us-east-1');
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: hourPrefix('us-east-1', hour),
        ContinuationToken: token,
      }),
    );
    for (const { Key } of page.Contents ?? []) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key }));
      out.set(Key!, head.Metadata?.['stormproof-sha256'] ?? '');
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

describe('the dev profile keeps its archive across stack down and up (a second, private stack)', () => {
  // A state directory and ports of its own (below the kernel's ephemeral range, clear of the lifecycle
  // test's offset 22000), so neither the shared test stack nor a developer's dev stack is touched.
  const stateDir = mkdtempSync(join(tmpdir(), 'stormproof-persist-'));
  const env = { ...process.env, STORMPROOF_STATE_DIR: stateDir, STORMPROOF_PORT_OFFSET: '24000' };
  const stack = (...args: string[]) =>
    run(tsx, [join(repo, 'src/stack/cli.ts'), ...args, '--profile', 'dev'], { env, cwd: repo });
  const config = () =>
    loadConfig({ ...env, STORMPROOF_CONFIG: join(stateDir, 'dev', 'stormproof.config.json') });
  let world: ReconcileWorld | undefined;

  afterAll(async () => {
    await world?.stop();
    await stack('down').catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('archived objects are all there after a restart and reconciling their hour ends equal', async () => {
    await stack('up');
    world = await startReconcileWorld({ base: config() });
    const events = makeEvents(3000);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events); // 3 objects of 1,000
    // The stats API got only the first 2,000: reconciliation after the restart must read the third object.
    await world.deliver(events.slice(0, 2000));
    const before = await archived(world.aws, hour);
    expect(before.size).toBe(3);
    await world.stop();
    world = undefined;

    await stack('down');
    // Stopped, the profile still shows what its next `up` serves (status exits 1: nothing runs).
    await expect(stack('status')).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringMatching(/archive \(S3 objects\) \S+\/dev\/s3: \d+ object\(s\)/),
    });
    const up = await stack('up');
    expect(up.stdout).toContain('stack "dev" is up');
    expect(up.stdout).toMatch(
      /archive \(S3 objects\)\s+\S+\/dev\/s3: \d+ object\(s\), [\d.]+ KiB in 4 bucket\(s\)/,
    );

    world = await startReconcileWorld({ base: config() });
    expect(await archived(world.aws, hour)).toEqual(before);
    const report = await world.reconcile(hour);
    expect(report).toMatchObject({
      verdict: 'equal',
      objectsRead: 3,
      eventsRead: 3000,
      eventsReplayed: 1000,
    });
    expect(await statsHour(world.config, 'us-east-1', hour)).toMatchObject(sideOf(events));
  }, 300_000);
});
