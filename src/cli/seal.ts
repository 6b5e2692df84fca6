import { Command, InvalidArgumentError } from 'commander';
import { pendingCaptures } from '../client/batchQuery';
import { connectClient } from '../client/connect';
import { ensureSealSchedules, readSeal, startSeal } from '../client/seal';
import { loadConfig } from '../config/load';
import { normalizeHour, type SealDelta, type SealManifest, type SealResult } from '../shared/seal';

/** The one parser of `--hour`: `2026-12-04T03` (UTC) or any ISO time on the hour. */
function parseHour(value: string): string {
  try {
    return normalizeHour(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

interface HourOptions {
  region: string;
  hour: string;
  json?: boolean;
}

/** `stormproof seal` (seal an hour, wait, print the manifest summary) and `stormproof seal show`. */
export function sealCommand(): Command {
  // The options belong to `seal` alone (commander hands `seal show --region …` to the parent anyway);
  // `show` reads them with optsWithGlobals.
  const seal = new Command('seal')
    .description(
      "seal a closed hour: its raw objects' events exactly once as Parquet plus a manifest (again: a new version with the raw objects that landed since, else nothing)",
    )
    .requiredOption('--region <name>', 'the region whose hour it is')
    .requiredOption('--hour <hour>', 'the hour, UTC, e.g. 2026-12-04T03', parseHour)
    .option('--json', 'machine-readable output')
    .action(async (o: HourOptions) => {
      const config = loadConfig();
      const { client, close } = await connectClient(config);
      try {
        const { handle, attached } = await startSeal(client, config, o);
        console.error(`${attached ? 'attached to running' : 'started'} ${handle.workflowId}`);
        const result = await handle.result();
        const pending = await pendingCaptures(client, o.region, o.hour);
        if (o.json) return console.log(JSON.stringify({ ...result, pendingCaptures: pending }, null, 2));
        console.log([describeResult(result, o), ...pendingLines(pending)].join('\n'));
      } finally {
        await close();
      }
    });
  seal
    .command('show')
    .description("the latest manifest of a region's hour, read from S3 (seal show --region R --hour H)")
    .action(async (_: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<HourOptions>();
      const found = await readSeal(loadConfig(), o);
      if (!found) {
        console.log(`${o.region} ${o.hour}: not sealed`);
        process.exitCode = 1;
        return;
      }
      if (o.json) return console.log(JSON.stringify(found.manifest, null, 2));
      console.log(describeManifest(found.bucket, found.key, found.manifest));
      // S3 says what is sealed; Temporal what is still on its way (best effort: show needs no worker).
      const config = loadConfig();
      const pending = await connectClient(config)
        .then(async ({ client, close }) => {
          try {
            return await pendingCaptures(client, o.region, o.hour);
          } finally {
            await close();
          }
        })
        .catch((err: unknown) => (err as Error).message);
      console.log(
        typeof pending === 'string'
          ? `  captured batches still pending: unknown (Temporal: ${pending})`
          : pendingLines(pending).join('\n'),
      );
    });
  return seal;
}

/** `stormproof seal-schedule`: creates or updates every region's hourly seal Schedule. */
export function sealScheduleCommand(): Command {
  return new Command('seal-schedule')
    .description("create or update each region's Temporal Schedule that seals every closed hour (idempotent)")
    .action(async () => {
      const config = loadConfig();
      const { client, close } = await connectClient(config);
      try {
        for (const s of await ensureSealSchedules(client, config))
          console.log(
            `schedule ${s.scheduleId} ${s.outcome}: seals ${s.region}'s hour ${config.seal.lagMinutes} min after it closes`,
          );
      } finally {
        await close();
      }
    });
}

function describeResult(r: SealResult, o: HourOptions): string {
  if (!r.summary) return `${o.region} ${o.hour}: no raw object in this hour, nothing sealed`;
  const s = r.summary;
  return [
    `${s.region} ${s.hour}: ${r.outcome}, version ${s.version}, manifest s3://${s.bucket}/${s.manifestKey}`,
    `  ${s.total.count} events (digest ${s.total.digest}) in ${s.files} Parquet file(s)`,
    `  from ${s.sources} raw object(s): ${s.eventsRead} events read, ${s.duplicatesDropped} duplicates dropped`,
    `  sealed at ${s.sealedAt}`,
    ...deltaLine(s.version, s.delta),
  ].join('\n');
}

function describeManifest(bucket: string, key: string, m: SealManifest): string {
  return [
    `${m.region} ${m.hour}: version ${m.version}, s3://${bucket}/${key}`,
    `  ${m.total.count} events (digest ${m.total.digest}), sealed at ${m.sealedAt} by ${m.writer.name} ${m.writer.version}`,
    `  from ${m.sources.count} raw object(s): ${m.eventsRead} events read, ${m.duplicatesDropped} duplicates dropped`,
    ...m.files.map((f) => `  s3://${bucket}/${f.key}  ${f.rows} rows, ${f.bytes} bytes`),
    `  ${Object.keys(m.minutes).length} minute(s) with events`,
    ...deltaLine(m.version, m.delta),
    ...(m.pending && m.pending.count > 0
      ? [
          `  when sealed, ${m.pending.count} captured batch(es) were pending: ${m.pending.workflowIds.join(', ')}`,
        ]
      : []),
    ...(m.retired
      ? [
          `  raw objects retired: ${m.retired.objects} at ${m.retired.at}, verified against version ${m.retired.verifiedVersion}`,
        ]
      : []),
  ].join('\n');
}

/** The hour's captured batches not archived yet: the seal does not hold them until they land. */
function pendingLines(p: { count: number; workflowIds: string[] }): string[] {
  if (p.count === 0) return ['  captured batches still pending: none'];
  const more = p.count > p.workflowIds.length ? ` (and ${p.count - p.workflowIds.length} more)` : '';
  return [
    `  captured batches still pending: ${p.count}, not in this seal; each seals the hour again when it lands:`,
    ...p.workflowIds.map((id) => `    ${id}`),
    ...(more ? [`    …${more}`] : []),
  ];
}

/** A later version: what its late raw objects added (its own parts are the `part-<version>-*` files). */
function deltaLine(version: number, d: SealDelta | undefined): string[] {
  if (!d) return [];
  return [
    `  version ${version} extends version ${version - 1}: ${d.sources} late raw object(s), ${d.eventsRead} events read, ${d.added} new event(s)`,
  ];
}
