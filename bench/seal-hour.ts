/**
 * Sealing benchmark: one hour of `--events` events in objects of 1,000, plus resent objects holding 1% of
 * them again (duplicates to drop), archived with the real archive activity on a running stack
 * (STORMPROOF_CONFIG). Then seals it in a child process of its own with the worker's heap limit
 * (--max-old-space-size=256), running both seal activities as the worker would, and reports time and the
 * child's peak RSS.
 *
 *   STORMPROOF_CONFIG=.stack/test/stormproof.config.json npx tsx bench/seal-hour.ts [--events 200000]
 */
import { execFileSync } from 'node:child_process';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Command } from 'commander';
import { createActivities } from '../src/activities';
import type { SealPartsResult } from '../src/activities/seal';
import { prepareBatch } from '../src/archive/format';
import { archiveBreakers } from '../src/archive/writer';
import { createAwsClients } from '../src/aws/clients';
import { loadConfig } from '../src/config/load';
import type { BatchManifest } from '../src/shared/batch';
import type { TrackingEvent } from '../src/shared/event';
import { mapLimit } from '../src/shared/mapLimit';
import type { SealHourJob, SealSummary } from '../src/shared/seal';
import { machineInfo } from './lib/measure';

const opts = new Command()
  .option('--events <n>', 'unique events in the hour', Number, 200_000)
  .option('--seal <hour>', '(internal) seal this hour and print the result as JSON')
  .parse()
  .opts<{ events: number; seal?: string }>();

const REGION = 'us-east-1';
const BATCH = 1000;
const config = loadConfig();
const aws = createAwsClients(config);
const breakers = archiveBreakers();
const acts = createActivities({ config, aws, breakers });
const quiet = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

async function seal(hour: string): Promise<void> {
  const t0 = Date.now();
  const parts = await quiet().run<[SealHourJob], SealPartsResult, typeof acts.sealHourParts>(
    acts.sealHourParts,
    { region: REGION, hour },
  );
  if (parts.kind !== 'draft') throw new Error(`expected a draft, got ${parts.kind}`);
  const written = Date.now();
  const summary = await quiet().run<
    [{ draft: typeof parts.draft; sealedAt: string }],
    SealSummary,
    typeof acts.verifySealedHour
  >(acts.verifySealedHour, { draft: parts.draft, sealedAt: new Date().toISOString() });
  const done = Date.now();
  console.log(
    JSON.stringify({
      writeMs: written - t0,
      verifyMs: done - written,
      files: summary.files,
      events: summary.total.count,
      eventsRead: summary.eventsRead,
      duplicatesDropped: summary.duplicatesDropped,
      sources: summary.sources,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
}

async function main(): Promise<void> {
  if (opts.seal) return seal(opts.seal);
  const run = Math.random().toString(36).slice(2, 8);
  const hourMs = Date.UTC(2031, 0, 1) + Math.floor(Math.random() * 20 * 365 * 24) * 3_600_000;
  const hour = new Date(hourMs).toISOString();
  const event = (i: number): TrackingEvent => ({
    id: `${run}-${i}`,
    type: i % 20 === 0 ? 'conversion' : 'click',
    timestamp: new Date(hourMs + ((i * 997) % 3_600_000)).toISOString(),
    region: REGION,
    offerId: `offer-${i % 17}`,
    affiliateId: `aff-${i % 5}`,
    attributes: {
      ip: '203.0.113.7',
      ua: 'Mozilla/5.0 (X11; Linux x86_64)',
      revenue: i % 20 === 0 ? 1.25 : null,
    },
  });
  // Objects of 1,000 unique events, then resent objects: every 100th object again under another batch ID.
  const batches: { id: string; from: number }[] = [];
  for (let from = 0; from < opts.events; from += BATCH) batches.push({ id: `${run}-b${from}`, from });
  for (let from = 0; from < opts.events; from += BATCH * 100) batches.push({ id: `${run}-r${from}`, from });
  const t0 = Date.now();
  await mapLimit(batches, 8, async ({ id, from }) => {
    const events = Array.from({ length: Math.min(BATCH, opts.events - from) }, (_, i) => event(from + i));
    const { manifest, body } = await prepareBatch({ batchId: id, region: REGION, hour, events });
    await quiet().run((m: BatchManifest, b: Uint8Array) => acts.archiveEvents(m, b), manifest, body);
  });
  console.error(
    `archived ${batches.length} objects in ${((Date.now() - t0) / 1000).toFixed(1)} s; sealing ${hour}`,
  );
  breakers.shutdown();
  aws.destroy();
  const out = execFileSync(
    process.execPath,
    ['--max-old-space-size=256', '--import', 'tsx', __filename, '--seal', hour],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  console.log(machineInfo());
  console.log(out.trim());
}

main()
  .then(() => {
    breakers.shutdown();
    aws.destroy();
  })
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
