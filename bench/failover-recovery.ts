/**
 * Recovery time of a full failover on the local stack: from the operator's request to traffic shifted (Route 53
 * change INSYNC) and archive redirected, as regionControl records it, plus the whole saga with verification as
 * the operator's client sees it. Each run fails us-east-1 over to us-west-2 and back (pre-approved), in a hosted
 * zone of the benchmark's own, with an in-process worker on a task queue of its own.
 *
 *   npx tsx bench/failover-recovery.ts [--runs 10]
 * Uses the stack STORMPROOF_CONFIG points at (e.g. a running test stack); without it, starts the `bench` profile.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Command } from 'commander';
import { createAwsClients } from '../src/aws/clients';
import { connectClient } from '../src/client/connect';
import { RegionControlClient } from '../src/client/regionControl';
import { loadConfig } from '../src/config/load';
import type { AppConfig } from '../src/config/schema';
import type { OperationRecord } from '../src/shared/regionControl';
import { seedWorld } from '../src/stack/seed';
import { repoRoot, stateDir } from '../src/stack/paths';
import { waitUntil } from '../src/util/waitUntil';
import { createWorker } from '../src/worker';
import { machineInfo, percentile } from './lib/measure';

const opts = new Command()
  .option('--runs <n>', 'failover + failback cycles', Number, 10)
  .parse()
  .opts<{ runs: number }>();

async function main(): Promise<void> {
  if (!process.env.STORMPROOF_CONFIG) {
    execFileSync(
      join(repoRoot, 'node_modules/.bin/tsx'),
      [join(repoRoot, 'src/stack/cli.ts'), 'up', '--profile', 'bench'],
      {
        stdio: 'inherit',
      },
    );
    process.env.STORMPROOF_CONFIG = join(stateDir('bench'), 'stormproof.config.json');
  }
  const base = loadConfig();
  const id = randomUUID().slice(0, 8);
  const zone = `bench-${id}.test`;
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: `bench-failover-${id}` },
    route53: { ...base.route53, hostedZoneName: zone, recordName: `track.${zone}.` },
    regionControl: { ...base.regionControl, workflowId: `region-control-bench-${id}` },
  };
  const aws = createAwsClients(config);
  // Idempotent: the buckets exist already; the benchmark's own zone gets the equal-weight records.
  await seedWorld(config, aws);
  const w = await createWorker({ config, shutdownGraceSeconds: 0 });
  const running = w.worker.run();
  const { client, close } = await connectClient(config);
  const control = new RegionControlClient(client, config);

  const recovery: number[] = [];
  const saga: number[] = [];
  const finished = async (opId: string): Promise<OperationRecord> => {
    let op: OperationRecord | undefined;
    await waitUntil(async () => (op = await control.operation(opId))?.outcome !== 'running', 60_000, 50);
    if (op?.outcome !== 'succeeded') throw new Error(`operation ${opId}: ${op?.outcome} ${op?.error ?? ''}`);
    return op;
  };
  try {
    for (let i = 0; i < opts.runs; i++) {
      const req = {
        region: 'us-east-1',
        to: 'us-west-2',
        operator: 'bench',
        mode: 'full' as const,
        approved: true,
      };
      const t0 = performance.now();
      const op = await control.request({ ...req, kind: 'failover', reason: `bench run ${i}` });
      const done = await finished(op.id);
      saga.push(performance.now() - t0);
      recovery.push(done.recoveryMs!);
      await finished((await control.request({ ...req, kind: 'failback', reason: `bench run ${i}` })).id);
      process.stdout.write(`run ${i + 1}: recovery ${done.recoveryMs} ms, saga ${Math.round(saga[i]!)} ms\n`);
    }
  } finally {
    await client.workflow
      .getHandle(config.regionControl.workflowId)
      .terminate('bench done')
      .catch(() => undefined);
    await close();
    w.worker.shutdown();
    await running;
    await w.close();
    aws.destroy();
  }
  const fmt = (xs: number[]) =>
    `median ${Math.round(percentile(xs, 50))} ms, p90 ${Math.round(percentile(xs, 90))} ms, max ${Math.round(Math.max(...xs))} ms`;
  console.log(`\n${machineInfo()}`);
  console.log(`recovery (request → traffic shifted and archive redirected): ${fmt(recovery)}`);
  console.log(`whole failover saga incl. verification, seen by the client: ${fmt(saga)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
