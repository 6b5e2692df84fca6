#!/usr/bin/env bash
# Caps off against caps on (a clicks and a conversions cap on each of the 97 offers: every event judged),
# alternately, in one sitting on one machine (docs/benchmarks.md, "Caps"): at each offered rate of a ladder,
# off then on, so each one's sustained rate is the highest it keeps up with (past it, an overloaded run's
# rate depends on how its refused senders resend); then each at half the highest rate both kept up with, for
# CPU and latency; the caps-on half run ends with 20 s of click decisions. Results go to
# bench-results/caps-<time>/*.json; the summary is printed at the end.
#
#   bash bench/compare-caps.sh ["offered events/s ...", default "40000"] [seconds, default 30] [decisions/s, default 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-40000}
seconds=${2:-30}
decisions=${3:-10000}
out=bench-results/caps-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$out"
export PATH="$PWD/node_modules/.bin:$PATH" AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

# shellcheck source=lib/compare.sh
source bench/lib/compare.sh
# Throughput is the steady state: each run is primed for 5 s at a quarter of its rate (off and on alike), so
# the ledgers' first grants and a fresh ingest's JIT are behind it, not inside it (docs/benchmarks.md).
for rate in $rates; do
  run "off-$rate" "$rate" --prime-seconds 5
  run "on-$rate" "$rate" --caps --prime-seconds 5
done
# Kept up: at least 99% of what was offered arrived end to end.
half=$(node -e '
const dir = process.argv[1], kept = (f) => { try { const r = require(`${dir}/${f}`); return r.endToEndEventsPerSecond >= 0.99 * r.offered.eventsPerSecond; } catch { return false; } };
const both = process.argv.slice(2).map(Number).filter((r) => kept(`off-${r}.json`) && kept(`on-${r}.json`));
console.log(Math.round(Math.max(...both, 20000) / 2));' "$PWD/$out" $rates)
run off-half "$half" --prime-seconds 5
run on-half "$half" --caps --prime-seconds 5 --decisions "$decisions"
summarize "$out"
