# Shared by the compare-*.sh scripts (sourced): one run of bench/ingest-load.ts, and the summary of a
# sitting's runs. Needs $out (the sitting's directory) and $seconds.

run() { # name, rate, extra args…
  local name=$1 r=$2
  shift 2
  echo "== $name at $r events/s"
  tsx bench/ingest-load.ts --rate "$r" --seconds "$seconds" --json "$out/$name.json" "$@" >"$out/$name.log" 2>&1 ||
    echo "   (exit $?: see $out/$name.log)"
}

summarize() { # one line per run of the sitting; fields a run lacks (no caps, no decisions) are left out
  node -e '
const dir = process.argv[1];
for (const f of require("fs").readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const r = require(`${dir}/${f}`);
  console.log(f.padEnd(16), JSON.stringify({
    e2e: r.endToEndEventsPerSecond, p50: r.acceptanceLatencyMs.p50, p99: r.acceptanceLatencyMs.p99,
    refused: r.refused503, lost: r.lost, dup: r.duplicated, cpuUsPerEvent: r.productCpuMicrosecondsPerEvent,
    actionsPerM: r.temporal.actionsPerMillionEvents, starts: r.temporal.workflowStarts,
    historyEvents: r.temporal.historyEvents, ledgerUpdates: r.temporal.ledgerUpdates,
    baseline: r.baseline?.eventsPerSecond, baselineCpuUs: r.baseline?.cpuMicrosecondsPerEvent,
    decisions: r.decisions, rss: r.peakRssMiB, cpu: r.cpuSecondsDuringRun }));
}' "$PWD/$1"
}
