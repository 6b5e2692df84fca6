#!/usr/bin/env bash
# The main job on the embedded local stack: installs what is missing, starts the stack and the worker,
# prints where everything is, and on Ctrl-C stops the worker gracefully and the stack with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
export PATH="$PWD/node_modules/.bin:$PATH"
# The lockfile pins an AWS SDK that supports this Node 20; its notice about future releases is noise here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

tsx src/stack/cli.ts up --profile dev
export STORMPROOF_CONFIG="$PWD/.stack/dev/stormproof.config.json"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "Stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  tsx src/stack/cli.ts down --profile dev
}
trap cleanup INT TERM EXIT

bash scripts/node.sh worker & pids+=($!)
bash scripts/node.sh ingest & pids+=($!)

ui=$(node -e 'console.log(require("./.stack/dev/state.json").endpoints["temporal-ui"])')
ingest=$(node -e 'const c=require(process.env.STORMPROOF_CONFIG); console.log(`http://${c.ingest.host}:${c.ingest.port}`)')
echo
echo "stormproof is running."
echo "  Temporal UI      $ui"
token_file=$(node -e 'console.log(require(process.env.STORMPROOF_CONFIG).ingestAuth.tokens[0].file)')
codec=$(node -e 'console.log(require("./.stack/dev/state.json").endpoints["codec server"])')
echo "  send events      curl -H \"authorization: Bearer \$(cat $token_file)\" -H 'content-type: application/x-ndjson' --data-binary @events.ndjson $ingest/v1/events"
echo "  decoded payloads sign in once at $codec/login (token: .stack/dev/secrets/codec-token-*), then turn on"
echo "                   \"Include cross-origin credentials\" in the UI's codec server settings"
echo "  backlog          npm run stormproof -- batches --state captured"
echo "  outage by hand   npm run stack -- fault set error s3-us-east-1   (clear: npm run stack -- fault clear)"
echo "(Ctrl-C stops everything)"
wait -n "${pids[@]}"
