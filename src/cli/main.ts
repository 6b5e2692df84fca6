import { Command, InvalidArgumentError } from 'commander';
import { StormproofClient } from '../client';
import { ConfigError, loadConfig } from '../config/load';
import type { BatchState } from '../shared/batch';
import { registerReconcileCommands } from './reconcile';
import { drillCommand } from './drill';
import { useLocalStackConfig } from './localStackConfig';
import { monitorCommand } from './monitor';
import { regionCommands } from './regionCommands';

const STATES: BatchState[] = ['pending', 'captured', 'archived', 'delivered', 'done'];

const program = new Command('stormproof')
  .description(
    'Operate stormproof: archive batches, reconciliation, region failover and failback (configuration: STORMPROOF_CONFIG, TEMPORAL_*)',
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
  .description('list running archive batches in a state (default: the captured backlog)')
  .option('--state <state>', `one of ${STATES.join(', ')}`, (v: string) => {
    if (!STATES.includes(v as BatchState))
      throw new InvalidArgumentError(`must be one of ${STATES.join(', ')}`);
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
        console.log(
          `  ${s.workflowId}  ${s.events} events, ${s.attempts} attempts${next}${s.lastError ? `\n    last error: ${s.lastError}` : ''}`,
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

registerReconcileCommands(program);
for (const command of regionCommands()) program.addCommand(command);
program.addCommand(monitorCommand());
program.addCommand(drillCommand());

program.hook('preAction', () => useLocalStackConfig());

program.parseAsync().catch((err: unknown) => {
  console.error(
    `stormproof: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}`,
  );
  process.exitCode = 1;
});
