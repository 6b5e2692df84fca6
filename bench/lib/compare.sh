# Shared by the compare-*.sh scripts (sourced): one run of bench/ingest-load.ts, the summary of a
# sitting's runs, and their rates combined. Needs $out (the sitting's directory) and $seconds.

# A closed-loop run: 24 senders, each sending its next request of 500 events when the last is answered, primed
# for 5 s (run() gives --rate: the priming runs at a quarter of it).
CLOSED_LOOP=(--concurrency 24 --prime-seconds 5)

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
    historyEvents: r.temporal.historyEvents, ledgerUpdates: r.temporal.ledgerUpdates, sessionUpdates: r.temporal.sessionUpdates,
    baseline: r.baseline?.eventsPerSecond, baselineCpuUs: r.baseline?.cpuMicrosecondsPerEvent,
    decisions: r.decisions, rss: r.peakRssMiB, cpu: r.cpuSecondsDuringRun }));
}' "$PWD/$1"
}

endToEnd() { # max|mean, result files…: their end-to-end rates combined (a missing file counts as 0)
  node -e '
const [how, ...files] = process.argv.slice(1);
const rates = files.map((f) => { try { return require(f).endToEndEventsPerSecond; } catch { return 0; } });
const v = how === "max" ? Math.max(...rates) : rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length);
console.log(Math.round(v));' "$@"
}
