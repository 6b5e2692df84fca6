/**
 * A child process for judgeOptimized.test.ts: judges `REQUESTS` requests of 500 events (every event capped,
 * as bench/ingest-load.ts --caps loads them) through a CapEnforcer whose ledgers and session answer at once
 * with all that is asked (fakeHolder), so only the judging path runs. The test runs it under `--trace-opt`.
 */
import { validateRecords } from '../../src/client/validate';
import type { StoredCap } from '../../src/shared/caps';
import { testConfig } from '../helpers/env';
import { fakeHolder } from '../helpers/fakeHolder';

const OFFERS = 97;
const REQUESTS = Number(process.argv[2] ?? 400);

const caps: StoredCap[] = Array.from({ length: OFFERS }, (_, o) =>
  (['clicks', 'conversions'] as const).map((metric): StoredCap => ({
    id: `offer-${o}-${metric}`,
    scope: { offerId: `offer-${o}` },
    metric,
    window: { kind: 'day', timeZone: 'UTC' },
    limit: 1_000_000_000,
    mode: 'hard',
    revision: 1,
    createdAt: '2026-12-05T00:00:00.000Z',
    updatedAt: '2026-12-05T00:00:00.000Z',
    updatedBy: 'test',
  })),
).flat();

async function main(): Promise<void> {
  const config = testConfig();
  const { enforcer } = fakeHolder({ caps: () => caps, settings: { leaseMs: 3_600_000, grantFraction: 0.5 } });
  await enforcer.start();
  const regions = new Set(config.regions.map((r) => r.name));
  const timestamp = new Date().toISOString();
  let judged = 0;
  for (let r = 0; r < REQUESTS; r++) {
    // Parsed from JSON and validated, as the ingest's events are.
    const records = Array.from(
      { length: 500 },
      (_, i) =>
        JSON.parse(
          JSON.stringify({
            id: `judge-${r}-${i}`,
            type: i % 20 === 0 ? 'conversion' : 'click',
            timestamp,
            region: config.regions[i % config.regions.length]!.name,
            offerId: `offer-${(i + 5 * r) % OFFERS}`,
            affiliateId: `aff-${i % 13}`,
            attributes: { sub1: `s${i}` },
          }),
        ) as unknown,
    );
    const { events, instants } = validateRecords(records, regions);
    const judgements = await enforcer.judge(events, instants);
    judged += judgements.filter((j) => j?.capStatus === 'within').length;
  }
  await enforcer.close();
  // The test checks that the load was judged, so a broken script cannot pass for an optimized one.
  console.log(`judged within ${judged}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
