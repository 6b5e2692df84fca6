import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { StormproofClient } from '../client';
import { loadConfig } from '../config/load';
import { BATCH_STATES, type BatchState, type BatchStatus, type QuarantineDecision } from '../shared/batch';
import { capsCommand } from './caps';
import { registerReconcileCommands } from './reconcile';
import { drillCommand } from './drill';
import { useLocalStackConfig } from './localStackConfig';
import { monitorCommand } from './monitor';
import { regionCommands } from './regionCommands';
import { sealCommand, sealScheduleCommand } from './seal';

const program = new Command('stormproof')
  .description(
    'Operate stormproof: archive batches, reconciliation, sealed hours, region failover and failback, caps (configuration: STORMPROOF_CONFIG, TEMPORAL_*)',
  )
  .showHelpAfterError();

/** Opens a client for one command and always closes it. */
async function withClient<T>(fn: (c: StormproofClient) => Promise<T>): Promise<T> {
  const client = await StormproofClient.connect(loadConfig());
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

program
  .command('batches')
  .description(
    'list running batch workflows in a state (default: the captured backlog; --state quarantined for those waiting for an operator)',
  )
  .option('--state <state>', `one of ${BATCH_STATES.join(', ')}`, (v: string) => {
    if (!BATCH_STATES.includes(v as BatchState))
      throw new InvalidArgumentError(`must be one of ${BATCH_STATES.join(', ')}`);
    return v as BatchState;
  })
  .option('--json', 'machine-readable output')
  .action(async (o: { state?: BatchState; json?: boolean }) =>
    withClient(async (c) => {
      const state = o.state ?? 'captured';
      const ids = await c.batchesIn(state);
      // Listing comes from visibility; details need a worker to answer the query. With the workers down
      // (as in an outage) the list is still printed, each batch with the reason its details are missing.
      const statuses = await Promise.all(
        ids.map((id) =>
          c.batchStatus(id).then(
            (s) => ({ workflowId: id, ...s }),
            (err: unknown) => ({
              workflowId: id,
              unavailable: err instanceof Error ? err.message : String(err),
            }),
          ),
        ),
      );
      if (o.json) return console.log(JSON.stringify(statuses, null, 2));
      console.log(`${statuses.length} batch(es) ${state}`);
      for (const s of statuses) {
        if ('unavailable' in s) {
          console.log(`  ${s.workflowId}  (details unavailable: ${s.unavailable})`);
          continue;
        }
        const next = s.nextAttemptAt ? `, next attempt ${s.nextAttemptAt}` : '';
        const held = s.quarantine ? `\n    quarantined: ${s.quarantine.half}: ${s.quarantine.reason}` : '';
        console.log(
          `  ${s.workflowId}  ${s.events} events, ${s.attempts} attempts${next}${held}${s.lastError && !held ? `\n    last error: ${s.lastError}` : ''}`,
        );
      }
    }),
  );

program
  .command('retry')
  .description('end the backoff wait of captured batches now')
  .argument('[workflowIds...]', 'batches to retry')
  .option('--all-captured', 'every captured batch')
  .action(async (ids: string[], o: { allCaptured?: boolean }) =>
    withClient(async (c) => {
      if (!o.allCaptured && ids.length === 0)
        throw new InvalidArgumentError('name batches to retry, or pass --all-captured');
      const targets = o.allCaptured ? await c.batchesIn('captured') : ids;
      if (targets.length === 0) return console.log('no captured batches: nothing to retry');
      const outcomes = await Promise.all(targets.map((id) => c.retryNow(id)));
      const finished = outcomes.filter((o) => o === 'finished').length;
      console.log(
        `retry signalled to ${targets.length - finished} batch(es)` +
          (finished ? `; ${finished} had already finished` : ''),
      );
    }),
  );

program
  .command('batch')
  .description('show one batch workflow: state, both halves, why it was captured or quarantined, decisions')
  .argument('<workflowId>', 'e.g. capture-us-east-1-2026120403-…')
  .option('--json', 'machine-readable output')
  .action(async (id: string, o: { json?: boolean }) =>
    withClient(async (c) => {
      const s = await c.batchStatus(id);
      if (o.json) return console.log(JSON.stringify(s, null, 2));
      console.log(describeBatch(id, s));
    }),
  );

const PAST = { release: 'released', discard: 'discarded' } as const;

for (const action of ['release', 'discard'] as const) {
  program
    .command(action)
    .description(
      action === 'release'
        ? 'try a quarantined batch again, after fixing what made it fail (recorded with who and why)'
        : 'give a quarantined batch up for good (recorded with who and why); its events stay wherever they already are',
    )
    .argument('<workflowId>', 'the quarantined batch (stormproof batches --state quarantined)')
    .requiredOption('--why <text>', 'the reason, recorded in the batch')
    .option('--by <name>', 'who decides (default: your user name)')
    .action(async (id: string, o: { why: string; by?: string }) =>
      withClient(async (c) => {
        const decision: QuarantineDecision = { action, by: o.by ?? userInfo().username, why: o.why };
        const s = await c.resolveQuarantine(id, decision);
        console.log(`${id}: ${PAST[action]} by ${decision.by}; now ${s.state}`);
      }),
    );
}

function describeBatch(id: string, s: BatchStatus): string {
  const lines = [
    `${id}: ${s.state}, ${s.events} events of ${s.region}, ${s.attempts} attempt(s)`,
    `  archive: ${s.archived ? `s3://${s.archived.bucket}/${s.archived.key}` : 'not yet'}`,
    `  stats:   ${s.delivered ? `${s.delivered.accepted} new, ${s.delivered.duplicates} duplicates` : 'not yet'}`,
  ];
  if (s.reason) lines.push(`  captured because: ${s.reason}`);
  if (s.quarantine)
    lines.push(
      `  quarantined since ${s.quarantine.since}: ${s.quarantine.half} failed with ${s.quarantine.type}: ${s.quarantine.reason}`,
    );
  for (const d of s.decisions ?? []) lines.push(`  ${PAST[d.action]} at ${d.at} by ${d.by}: ${d.why}`);
  if (s.lastError) lines.push(`  last error: ${s.lastError}`);
  return lines.join('\n');
}

registerReconcileCommands(program);
for (const command of regionCommands()) program.addCommand(command);
program.addCommand(monitorCommand());
program.addCommand(drillCommand());
program.addCommand(sealCommand());
program.addCommand(sealScheduleCommand());
program.addCommand(capsCommand());

program.hook('preAction', () => useLocalStackConfig());

program.parseAsync().catch((err: unknown) => {
  console.error(`stormproof: ${messageChain(err)}`);
  process.exitCode = 1;
});

/** An error's message with its causes' (e.g. "Workflow Update failed: say why (why)"). */
function messageChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    const message = e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e);
    if (message && !parts.includes(message)) parts.push(message);
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ');
}
