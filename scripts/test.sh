#!/usr/bin/env bash
# Every test: installs what is missing, starts the test stack, runs jest and lint, stops the stack.
# Arguments go to jest (e.g. `npm test -- test/stack`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
export PATH="$PWD/node_modules/.bin:$PATH"
# The lockfile pins an AWS SDK that supports this Node 20; its notice about future releases is noise here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

tsx src/stack/cli.ts test-server >/dev/null  # the time-skipping workflow tests' server (test/workflows)
tsx src/stack/cli.ts up --profile test
trap 'tsx src/stack/cli.ts down --profile test' EXIT
export STORMPROOF_CONFIG="$PWD/.stack/test/stormproof.config.json"
export STORMPROOF_STACK_PROFILE=test

status=0
jest "$@" || status=$?
echo "== lint"
npm run --silent lint || status=$?
exit "$status"
