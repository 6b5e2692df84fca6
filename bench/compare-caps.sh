#!/usr/bin/env bash
# Caps off against caps on (a clicks and a conversions cap on each of the 97 offers: every event judged),
# alternately, in one sitting on one machine (docs/benchmarks.md, "Caps"). Throughput: closed-loop runs (24
# senders, each sending its next request of 500 events when the last is answered), `rounds` pairs of off and
# on in ABBA order (an even number of rounds cancels a steady drift of the machine's speed); each run primed
# for 5 s at 10,000 events/s (off and on alike), so the ledgers' first grants and a fresh ingest's JIT are
# behind the measured load, not inside it. Then each open-loop at half caps off's mean throughput, for CPU
# per event and latency; the caps-on half run ends with 20 s of click decisions. Results go to
# bench-results/caps-<time>/*.json; the summary and the throughput ratio are printed at the end.
#
#   bash bench/compare-caps.sh [rounds, default 4] [seconds, default 20] [decisions/s, default 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
if ! [[ $rounds =~ ^[1-9]$ ]]; then
  echo "compare-caps.sh: the first argument is the number of rounds (1-9), not an offered rate: throughput is measured closed-loop" >&2
  exit 2
fi
seconds=${2:-20}
decisions=${3:-10000}
out=bench-results/caps-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$out"
export PATH="$PWD/node_modules/.bin:$PATH" AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

# shellcheck source=lib/compare.sh
source bench/lib/compare.sh
# Off and on in ABBA order (off-on, then on-off): this machine speeds up and slows down over a sitting (caps
# off fell by a fifth within one), and with off always first a steady slowdown counted against caps on.
for ((i = 1; i <= rounds; i++)); do
  if ((i % 2)); then
    run "off-closed-$i" 40000 "${CLOSED_LOOP[@]}"
    run "on-closed-$i" 40000 "${CLOSED_LOOP[@]}" --caps
  else
    run "on-closed-$i" 40000 "${CLOSED_LOOP[@]}" --caps
    run "off-closed-$i" 40000 "${CLOSED_LOOP[@]}"
  fi
done
off=$(endToEnd mean "$PWD/$out"/off-closed-*.json)
on=$(endToEnd mean "$PWD/$out"/on-closed-*.json)
half=$((off / 2))
run off-half "$half" --prime-seconds 5
run on-half "$half" --caps --prime-seconds 5 --decisions "$decisions"
summarize "$out"
echo "throughput, mean of $rounds closed-loop runs: off $off, on $on events/s; on/off $(node -e "console.log(($on / $off).toFixed(3))")"
