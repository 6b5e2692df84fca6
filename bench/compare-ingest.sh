#!/usr/bin/env bash
# Old code against new, alternately, in one sitting on one machine (docs/benchmarks.md, "Fast path").
# Open loop: saturating runs for the sustained end-to-end rate (each version's best over its ladder of
# offered rates). Closed loop (`closed`): 24 senders each sending its next request of 500 events when the last
# is answered, old then new, `rounds` times, each primed for 5 s at 10,000 events/s; the sustained rate is each
# version's mean. Either way, then each version at half its own sustained rate for the acceptance latency
# (primed for 5 s at a quarter of that rate, both alike).
# Results go to bench-results/<time>/*.json; the summary is printed at the end.
#
#   bash bench/compare-ingest.sh <old-ref> ["offered events/s ...", default "40000 40000"] [seconds, default 30] \
#        ["new code's offered events/s ...", default: the same]
#   bash bench/compare-ingest.sh <old-ref> closed [rounds, default 3] [seconds, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=${1:?usage: compare-ingest.sh <old-ref> [rates] [seconds] [new rates] | <old-ref> closed [rounds] [seconds]}
if [[ ${2:-} == closed ]]; then
  rounds=${3:-3}
  seconds=${4:-20}
else
  read -r -a old_rates <<<"${2:-40000 40000}"
  seconds=${3:-30}
  read -r -a new_rates <<<"${4:-${old_rates[*]}}"
fi
out=bench-results/$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$out"
old=$(mktemp -d)
trap 'git worktree remove --force "$old" >/dev/null 2>&1 || true' EXIT
git worktree add --detach "$old" "$old_ref" >/dev/null
ln -s "$PWD/node_modules" "$old/node_modules" # the same lockfile: the old code runs on these packages
export PATH="$PWD/node_modules/.bin:$PATH" AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

# shellcheck source=lib/compare.sh
source bench/lib/compare.sh
if [[ -n ${rounds:-} ]]; then
  for ((i = 1; i <= rounds; i++)); do
    run "old-closed-$i" 40000 "${CLOSED_LOOP[@]}" --code "$old"
    run "new-closed-$i" 40000 "${CLOSED_LOOP[@]}"
  done
  old_half=$(($(endToEnd mean "$PWD/$out"/old-closed-*.json) / 2))
  new_half=$(($(endToEnd mean "$PWD/$out"/new-closed-*.json) / 2))
else
  # Alternately: old's i-th rate, then new's i-th, so a machine that changes mid-sitting changes both.
  n=$((${#old_rates[@]} > ${#new_rates[@]} ? ${#old_rates[@]} : ${#new_rates[@]}))
  for ((i = 0; i < n; i++)); do
    if ((i < ${#old_rates[@]})); then run "old-max-$((i + 1))" "${old_rates[$i]}" --code "$old"; fi
    if ((i < ${#new_rates[@]})); then run "new-max-$((i + 1))" "${new_rates[$i]}"; fi
  done
  old_half=$(($(endToEnd max "$PWD/$out"/old-max-*.json) / 2))
  new_half=$(($(endToEnd max "$PWD/$out"/new-max-*.json) / 2))
fi
# Primed like the closed runs (JIT and first connections behind them), old and new alike.
run old-half "$old_half" --code "$old" --prime-seconds 5
run new-half "$new_half" --prime-seconds 5
summarize "$out"
