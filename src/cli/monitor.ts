import { Command } from 'commander';
import { ensureMonitor, monitorStatus } from '../client/monitor';
import { withTemporal } from './withTemporal';

/** `stormproof monitor start|status`: the region health monitor. */
export function monitorCommand(): Command {
  const monitor = new Command('monitor').description(
    'the region health monitor: detects a failing region and requests its failover',
  );
  monitor
    .command('start')
    .description('start it (once per deployment; a second start reports the running one)')
    .action(() =>
      withTemporal(async (client, config) => {
        const handle = await ensureMonitor(client, config);
        console.log(`region health monitor running: ${handle.workflowId} (policy ${config.monitor.policy})`);
      }),
    );
  monitor
    .command('status')
    .description("each region's health, the captured backlog and what the monitor did")
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      withTemporal(async (client, config) => {
        const s = await monitorStatus(client, config);
        if (o.json) return console.log(JSON.stringify(s, null, 2));
        console.log(`policy ${s.settings.policy}, ${s.probes} probe rounds, captured backlog ${s.backlog}`);
        for (const [name, h] of Object.entries(s.health)) {
          console.log(`  ${name.padEnd(12)} ${h.status.padEnd(5)} since ${h.since}  ${h.lastProblem ?? ''}`);
          const why = s.refused[name];
          if (why)
            console.log(`  ${''.padEnd(12)} failover refused at preflight, asking again each round: ${why}`);
        }
        for (const e of s.events.slice(-10)) console.log(`  ${e.at} ${e.region ?? ''} ${e.what}`);
      }),
    );
  return monitor;
}
