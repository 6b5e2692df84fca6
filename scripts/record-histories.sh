#!/usr/bin/env bash
# Re-records every workflow history the replay test replays (test/replay/scenarios.ts lists them), or only the
# scenarios named as arguments. Starts the test stack for the scenarios that need it and stops it after.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
export PATH="$PWD/node_modules/.bin:$PATH"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

tsx src/stack/cli.ts test-server >/dev/null
tsx src/stack/cli.ts up --profile test
trap 'tsx src/stack/cli.ts down --profile test' EXIT
STORMPROOF_CONFIG="$PWD/.stack/test/stormproof.config.json" tsx test/replay/record.ts "$@"
