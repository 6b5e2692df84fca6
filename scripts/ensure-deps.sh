#!/usr/bin/env bash
# Installs the locked npm dependencies when node_modules is missing or older than package-lock.json.
# npm keeps its download cache in ~/.npm, so a clean clone on a machine that has run this before is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.stormproof-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing npm dependencies (npm ci)…"
  npm ci --no-audit --no-fund --prefer-offline
  echo "$want" > "$stamp"
fi
