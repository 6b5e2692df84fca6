import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { integerOption } from '../util/cliOptions';
import { loadConfig } from '../config/load';
import { renderDrillHtml } from '../drill/htmlReport';
import { runDrill } from '../drill/run';

const positive = integerOption(1);

/**
 * `stormproof drill`: the outage drill on the local stack; exit 1 if any event was lost or duplicated, or the
 * hard cap overshot.
 */
export function drillCommand(): Command {
  return new Command('drill')
    .description('rehearse a region outage end to end on the local stack and prove nothing was lost')
    .option('--rate <events/s>', 'tracking traffic offered to the ingest', positive, 5000)
    .option('--seconds <n>', 'how long traffic runs', positive, 120)
    .option('--region <name>', 'the region whose S3 and stats API fail', 'us-east-1')
    .option('--out <dir>', 'where drill-report.txt and drill-report.html go', 'drill-reports')
    .option('--no-caps', 'without the hard cap on offer-0 conversions (on by default)')
    .action(async (o: { rate: number; seconds: number; region: string; out: string; caps: boolean }) => {
      const report = await runDrill(loadConfig(), {
        rate: o.rate,
        seconds: o.seconds,
        region: o.region,
        caps: o.caps,
      });
      const text = [
        `${report.title}: ${report.passed ? 'PASSED' : 'FAILED'}`,
        ...Object.entries(report.summary).map(([k, v]) => `  ${k.padEnd(36)} ${String(v)}`),
        ...report.phases.map(
          (p) => `  phase ${p.name}: ${p.start.toFixed(1)} s .. ${p.end?.toFixed(1) ?? '?'} s`,
        ),
      ].join('\n');
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'drill-report.txt'), text + '\n');
      writeFileSync(join(o.out, 'drill-report.html'), renderDrillHtml(report));
      console.log(text);
      console.log(`reports: ${join(o.out, 'drill-report.txt')}, ${join(o.out, 'drill-report.html')}`);
      if (!report.passed) process.exitCode = 1;
    });
}
