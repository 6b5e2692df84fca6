import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { renderDrillHtml } from '../../src/drill/htmlReport';
import type { DrillReport } from '../../src/drill/timeline';

const run = promisify(execFile);

/** The page as headless Chromium leaves it after running its scripts (Debian's chromium package). */
async function renderedDom(file: string): Promise<string> {
  const { stdout } = await run(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--virtual-time-budget=10000',
      '--dump-dom',
      `file://${file}`,
    ],
    { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

const report = (title: string): DrillReport => ({
  title,
  startedAt: '2026-11-28T11:00:00.000Z',
  passed: true,
  summary: { sent: 1000, lost: 0, duplicated: 0, 'time to detect (s)': 4.2 },
  samples: Array.from({ length: 60 }, (_, t) => ({
    t,
    acceptedPerSecond: 5000,
    archivedPerSecond: t > 20 && t < 30 ? 0 : 5000,
    deliveredPerSecond: 5000,
    errorsPerSecond: t > 20 && t < 30 ? 3 : 0,
    backlog: t > 20 && t < 35 ? (t - 20) * 4 : 0,
  })),
  phases: [
    { name: 'S3 outage', start: 20, end: 30 },
    { name: 'failover', start: 24, end: 26 },
  ],
});

describe('drill HTML report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders its timeline chart in headless Chromium', async () => {
    const file = join(dir, 'drill.html');
    writeFileSync(file, renderDrillHtml(report('outage drill')));
    const dom = await renderedDom(file);
    expect(dom).toContain('data-chart-rendered="true"');
    const painted = Number(/data-painted-pixels="(\d+)"/.exec(dom)?.[1]);
    // Axes, five series and two phase bands: far more than an empty canvas.
    expect(painted).toBeGreaterThan(20_000);
    expect(dom).toContain('<th>lost</th><td>0</td>');
  });

  it('keeps hostile values inert (escaped text, no script break-out)', async () => {
    const file = join(dir, 'hostile.html');
    const r = report('<img src=x onerror="document.title=1">');
    r.phases[0]!.name = '</script><script>document.body.setAttribute("data-pwned","1")</script>';
    writeFileSync(file, renderDrillHtml(r));
    const dom = await renderedDom(file);
    expect(dom).toContain('data-chart-rendered="true"');
    // The phase name is in the page only as inert JSON text: the body never got the attribute.
    expect(/<body[^>]*>/.exec(dom)?.[0]).not.toContain('data-pwned');
    expect(dom).toContain('&lt;img src=x');
  });
});
