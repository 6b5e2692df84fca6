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

# shellcheck source=lib/compare.sh
source bench/lib/compare.sh
for i in 1 2; do
  run "old-max-$i" "$rate" --code "$old"
  run "new-max-$i" "$rate"
done
sustained() { node -e 'const f=process.argv.slice(1).map(p=>require(p).endToEndEventsPerSecond);console.log(Math.round(Math.max(...f)))' "$@"; }
old_half=$(($(sustained "$PWD/$out/old-max-1.json" "$PWD/$out/old-max-2.json") / 2))
new_half=$(($(sustained "$PWD/$out/new-max-1.json" "$PWD/$out/new-max-2.json") / 2))
run old-half "$old_half" --code "$old"
run new-half "$new_half"
summarize "$out"
