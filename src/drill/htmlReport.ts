import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DrillReport } from './timeline';

/**
 * Chart.js's browser build, inlined so the report is one file that opens anywhere, offline. The package
 * exports only its module builds, so the UMD file is found next to the CommonJS entry point.
 */
const chartJs = (): string =>
  readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON inside a <script> element: `<` escaped so no value can close the element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

/**
 * The drill's picture: one timeline chart (events/s accepted, archived and delivered; errors; the captured
 * backlog on its own axis) with the drill's phases as shaded bands, under the summary table. Once the chart
 * has drawn, the page marks `data-chart-rendered` and how many pixels it painted, for headless checks.
 */
export function renderDrillHtml(report: DrillReport): string {
  const rows = Object.entries(report.summary)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`)
    .join('\n');
  const verdict = report.passed ? 'PASSED' : 'FAILED';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(report.title)} — ${verdict}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
  h1 { font-size: 1.4rem; } .passed { color: #1a7f37; } .failed { color: #cf222e; }
  table { border-collapse: collapse; margin-bottom: 1.5rem; }
  th, td { text-align: left; padding: .2rem .8rem; border-bottom: 1px solid #d0d7de; }
  #chart-box { position: relative; height: 420px; max-width: 1100px; }
</style>
</head>
<body>
<h1>${escapeHtml(report.title)}: <span class="${report.passed ? 'passed' : 'failed'}">${verdict}</span></h1>
<p>started ${escapeHtml(report.startedAt)}</p>
<table>
${rows}
</table>
<div id="chart-box"><canvas id="timeline" width="1100" height="420"></canvas></div>
<script id="drill-data" type="application/json">${scriptJson({ samples: report.samples, phases: report.phases })}</script>
<script>${chartJs()}</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById('drill-data').textContent);
  var colors = ['rgba(9,105,218,.10)', 'rgba(207,34,46,.10)', 'rgba(26,127,55,.10)', 'rgba(154,103,0,.12)'];
  var phaseBands = {
    id: 'phaseBands',
    beforeDatasetsDraw: function (chart) {
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      data.phases.forEach(function (p, i) {
        var last = data.samples.length ? data.samples[data.samples.length - 1].t : 0;
        var from = x.getPixelForValue(p.start), to = x.getPixelForValue(p.end == null ? last : p.end);
        ctx.save();
        ctx.fillStyle = colors[i % colors.length];
        ctx.fillRect(from, area.top, Math.max(1, to - from), area.bottom - area.top);
        ctx.fillStyle = '#57606a';
        ctx.fillText(p.name, from + 4, area.top + 12 + 12 * (i % 3));
        ctx.restore();
      });
    }
  };
  function series(key) { return data.samples.map(function (s) { return { x: s.t, y: s[key] }; }); }
  var chart = new Chart(document.getElementById('timeline'), {
    type: 'line',
    plugins: [phaseBands],
    data: { datasets: [
      { label: 'accepted events/s', data: series('acceptedPerSecond'), borderColor: '#0969da', pointRadius: 0 },
      { label: 'archived events/s', data: series('archivedPerSecond'), borderColor: '#1a7f37', pointRadius: 0 },
      { label: 'delivered events/s', data: series('deliveredPerSecond'), borderColor: '#8250df', pointRadius: 0 },
      { label: 'errors/s', data: series('errorsPerSecond'), borderColor: '#cf222e', pointRadius: 0 },
      { label: 'captured backlog (batches)', data: series('backlog'), borderColor: '#9a6700',
        borderDash: [6, 4], pointRadius: 0, yAxisID: 'backlog' }
    ] },
    options: {
      // Drawn at once (no animation), so the picture is complete as soon as the page has loaded.
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'seconds since start' } },
        y: { beginAtZero: true, title: { display: true, text: 'events/s' } },
        backlog: { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false },
          title: { display: true, text: 'captured batches' } }
      }
    }
  });
  markRendered(chart.canvas);
  function markRendered(canvas) {
    var px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data, painted = 0;
    for (var i = 3; i < px.length; i += 4) if (px[i] > 0) painted++;
    document.body.setAttribute('data-painted-pixels', String(painted));
    document.body.setAttribute('data-chart-rendered', 'true');
  }
})();
</script>
</body>
</html>
`;
}
