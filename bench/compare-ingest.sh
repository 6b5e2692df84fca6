#!/usr/bin/env bash
# Old code against new, alternately, in one sitting on one machine (docs/benchmarks.md, "Fast path"):
# saturating runs for the sustained end-to-end rate, then each version at half its own sustained rate for
# the acceptance latency. Results go to bench-results/<time>/*.json; the summary is printed at the end.
#
#   bash bench/compare-ingest.sh <old-ref> [offered events/s, default 40000] [seconds, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=${1:?usage: compare-ingest.sh <old-ref> [rate] [seconds]}
rate=${2:-40000}
seconds=${3:-30}
out=bench-results/$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$out"
old=$(mktemp -d)
trap 'git worktree remove --force "$old" >/dev/null 2>&1 || true' EXIT
git worktree add --detach "$old" "$old_ref" >/dev/null
ln -s "$PWD/node_modules" "$old/node_modules" # the same lockfile: the old code runs on these packages
export PATH="$PWD/node_modules/.bin:$PATH" AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

run() { # name, rate, extra args…
  local name=$1 r=$2
  shift 2
  echo "== $name at $r events/s"
  tsx bench/ingest-load.ts --rate "$r" --seconds "$seconds" --json "$out/$name.json" "$@" >"$out/$name.log" 2>&1 ||
    echo "   (exit $?: see $out/$name.log)"
}
for i in 1 2; do
  run "old-max-$i" "$rate" --code "$old"
  run "new-max-$i" "$rate"
done
sustained() { node -e 'const f=process.argv.slice(1).map(p=>require(p).endToEndEventsPerSecond);console.log(Math.round(Math.max(...f)))' "$@"; }
old_half=$(($(sustained "$PWD/$out/old-max-1.json" "$PWD/$out/old-max-2.json") / 2))
new_half=$(($(sustained "$PWD/$out/new-max-1.json" "$PWD/$out/new-max-2.json") / 2))
run old-half "$old_half" --code "$old"
run new-half "$new_half"
node -e '
const dir = process.argv[1];
for (const f of require("fs").readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const r = require(`${dir}/${f}`);
  console.log(f.padEnd(16), JSON.stringify({
    e2e: r.endToEndEventsPerSecond, p50: r.acceptanceLatencyMs.p50, p99: r.acceptanceLatencyMs.p99,
    refused: r.refused503, lost: r.lost, dup: r.duplicated, cpuUsPerEvent: r.productCpuMicrosecondsPerEvent,
    actionsPerM: r.temporal.actionsPerMillionEvents, starts: r.temporal.workflowStarts,
    historyEvents: r.temporal.historyEvents, baseline: r.baseline.eventsPerSecond,
    baselineCpuUs: r.baseline.cpuMicrosecondsPerEvent, rss: r.peakRssMiB, cpu: r.cpuSecondsDuringRun }));
}' "$PWD/$out"
