import { WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { StormproofClient } from '../client';
import { ensureReconcileSchedule, reconcileReport, startReconcile } from '../client/reconcile';
import { loadConfig } from '../config/load';
import type { ReconcileReport } from '../shared/reconcile';

const PROGRESS_EVERY_MS = 2000;

/** `stormproof reconcile` (one window by hand, with progress) and `stormproof reconcile-schedule`. */
export function registerReconcileCommands(program: Command): void {
  program
    .command('reconcile')
    .description('compare a window of the archive with the stats API and replay what the stats lack')
    .requiredOption('--from <time>', 'start of the window, hour-aligned ISO-8601 (e.g. 2026-11-28T00:00:00Z)')
    .requiredOption('--to <time>', 'end of the window (exclusive), hour-aligned')
    .option('--region <name...>', 'only these regions (default: every configured region)')
    .option('--json', 'print the final report as JSON')
    .action(async (o: { from: string; to: string; region?: string[]; json?: boolean }) => {
      const config = loadConfig();
      const client = await StormproofClient.connect(config);
      try {
        const { handle, attached } = await startReconcile(client.temporal, config, {
          from: o.from,
          to: o.to,
          regions: o.region,
        });
        console.error(`${attached ? 'attached to running' : 'started'} ${handle.workflowId}`);
        const report = await follow(handle, o.json === true);
        if (o.json) console.log(JSON.stringify(report, null, 2));
        else console.log(summary(report));
        if (report.verdict === 'unresolved' || report.verdict === 'corrupt-objects') process.exitCode = 1;
      } finally {
        await client.close();
      }
    });

  program
    .command('reconcile-schedule')
    .description('create or update the Temporal Schedule that reconciles every closed hour (idempotent)')
    .action(async () => {
      const config = loadConfig();
      const client = await StormproofClient.connect(config);
      try {
        const outcome = await ensureReconcileSchedule(client.temporal, config);
        console.log(
          `schedule ${config.reconcile.scheduleId} ${outcome}: every hour, ${config.reconcile.scheduleLagMinutes} min after it closes`,
        );
      } finally {
        await client.close();
      }
    });
}

/** Prints a progress line whenever the live report changes; resolves with the final report. */
async function follow(
  handle: Awaited<ReturnType<typeof startReconcile>>['handle'],
  quiet: boolean,
): Promise<ReconcileReport> {
  let last = '';
  const timer = setInterval(() => {
    reconcileReport(handle)
      .then((r) => {
        const line = progress(r);
        if (line !== last && !quiet) console.error(line);
        last = line;
      })
      .catch(() => undefined); // a query can fail while a worker restarts: the next tick asks again
  }, PROGRESS_EVERY_MS);
  try {
    return await handle.result();
  } catch (err) {
    // A run that ends unequal fails with its report as the failure's details.
    if (err instanceof WorkflowFailedError && err.cause && 'details' in err.cause) {
      const details = (err.cause as { details?: unknown[] }).details;
      if (details?.[0]) return details[0] as ReconcileReport;
    }
    throw err;
  } finally {
    clearInterval(timer);
  }
}

function progress(r: ReconcileReport): string {
  return `${r.phase}: ${r.hoursDone}/${r.hoursTotal} hours, ${r.bucketsCompared} buckets compared, ${r.bucketsDiffered} differed, ${r.objectsRead} objects read, ${r.eventsReplayed} events replayed`;
}

function summary(r: ReconcileReport): string {
  const lines = [
    `verdict: ${r.verdict}  (${r.regions.join(', ')}, ${r.from} .. ${r.to})`,
    `  buckets compared ${r.bucketsCompared}, differed ${r.bucketsDiffered} (${r.minuteBucketsDiffered} minutes)`,
    `  objects read ${r.objectsRead}, events read ${r.eventsRead}, events replayed ${r.eventsReplayed}, rounds ${r.iterations}`,
    `  extra events in stats (left alone) ${r.extraEvents}, events archived in two objects ${r.archiveDuplicates}`,
  ];
  for (const s of r.extraSamples.slice(0, 5))
    lines.push(`    ${s.region} ${s.hour}: ${s.ids.slice(0, 5).join(', ')}`);
  for (const c of r.corruptObjects) lines.push(`  corrupt: s3://${c.bucket}/${c.key}: ${c.error}`);
  for (const u of r.unresolved)
    lines.push(`  unresolved: ${u.region} ${u.hour} archive ${u.archive.count} vs stats ${u.stats.count}`);
  return lines.join('\n');
}
