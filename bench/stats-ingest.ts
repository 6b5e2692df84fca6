/**
 * Ingest throughput of the reference stats service: starts it as its own process on a fresh database,
 * POSTs events in batches over HTTP from a few concurrent senders, checks every event was counted once,
 * and reports events/s, the service's peak RSS and CPU time, and the machine.
 *
 *   npx tsx bench/stats-ingest.ts [--events 300000] [--batch 1000] [--senders 4]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TrackingEvent } from '../src/shared/event';
import { spawnStatsService } from '../src/stats-service/spawn';
import { cpuSeconds, machineInfo, peakRssMiB } from './lib/measure';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '300000' },
    batch: { type: 'string', default: '1000' },
    senders: { type: 'string', default: '4' },
  },
});
const EVENTS = Number(values.events);
const BATCH = Number(values.batch);
const SENDERS = Number(values.senders);
const REGION = 'us-east-1';
const REQUEST_TIMEOUT_MS = 60_000;

/** Events shaped like real tracking traffic: random UUIDs, 10 ms apart (~300 bytes of JSON each). */
function makeBatch(first: number, count: number, t0: number): TrackingEvent[] {
  return Array.from({ length: count }, (_, k) => {
    const i = first + k;
    return {
      id: randomUUID(),
      type: i % 20 === 0 ? 'conversion' : 'click',
      timestamp: new Date(t0 + i * 10).toISOString(),
      region: REGION,
      offerId: `offer-${i % 97}`,
      affiliateId: `aff-${i % 13}`,
      attributes: {
        ip: '198.51.100.23',
        ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15',
        campaign: `c-${i % 31}`,
        value: i % 7,
      },
    };
  });
}

async function post(url: string, body: string): Promise<{ accepted: number; duplicates: number }> {
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as { accepted: number; duplicates: number };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'stats-bench-'));
  const service = await spawnStatsService([
    '--port',
    '0',
    '--db',
    path.join(dir, 'stats.sqlite'),
    '--log-level',
    'warn',
  ]);
  try {
    const pid = service.child.pid!;
    // Serialised up front so the senders cost as little CPU as possible on a machine shared with the service.
    const t0 = Date.parse('2024-03-01T10:00:00Z');
    const bodies: string[] = [];
    for (let first = 0; first < EVENTS; first += BATCH) {
      bodies.push(JSON.stringify({ events: makeBatch(first, Math.min(BATCH, EVENTS - first), t0) }));
    }
    const megabytes = bodies.reduce((sum, b) => sum + b.length, 0) / 2 ** 20;

    const cpuBefore = cpuSeconds(pid) ?? 0;
    const started = process.hrtime.bigint();
    let next = 0;
    let accepted = 0;
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (next < bodies.length) {
          const result = await post(service.url, bodies[next++]!);
          accepted += result.accepted; // not `+= await …`, which would add to a stale total
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const serverCpu = (cpuSeconds(pid) ?? 0) - cpuBefore;

    const hours = Math.ceil((EVENTS * 10) / 3_600_000) + 1;
    const query = new URLSearchParams({
      granularity: 'hour',
      from: new Date(t0).toISOString(),
      to: new Date(t0 + hours * 3_600_000).toISOString(),
    });
    const res = await fetch(`${service.url}/v1/buckets?${query.toString()}`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const { buckets } = (await res.json()) as { buckets: { count: number }[] };
    const counted = buckets.reduce((sum, b) => sum + b.count, 0);
    if (accepted !== EVENTS || counted !== EVENTS) {
      throw new Error(`expected ${EVENTS} events, accepted ${accepted}, counted ${counted}`);
    }

    console.log(`machine:          ${machineInfo()}`);
    console.log(
      `command:          npx tsx bench/stats-ingest.ts --events ${EVENTS} --batch ${BATCH} --senders ${SENDERS}`,
    );
    console.log(
      `sent:             ${EVENTS} events in ${bodies.length} requests, ${megabytes.toFixed(1)} MiB of JSON`,
    );
    console.log(`elapsed:          ${seconds.toFixed(2)} s`);
    console.log(`throughput:       ${Math.round(EVENTS / seconds)} events/s`);
    console.log(
      `service CPU:      ${serverCpu.toFixed(2)} s (${Math.round((100 * serverCpu) / seconds)}% of one core)`,
    );
    console.log(`service peak RSS: ${peakRssMiB(pid) ?? '?'} MiB (VmHWM)`);
    console.log(`check:            all ${counted} events counted once`);
  } finally {
    await service.stop('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
