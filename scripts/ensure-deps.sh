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

# Headless Chromium renders the drill's HTML report in its test (Debian's package; its security updates
# are taken as Debian ships them rather than pinned).
if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Debian's chromium (for the drill report test)…"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { $sudo_ apt-get update -qq && $sudo_ apt-get install -y --no-install-recommends chromium; }
fi

# Java and Maven run and fetch Temporal's time-skipping test server (src/stack/tools.ts) for test/workflows.
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  echo "Installing Debian's Java runtime and Maven (for the time-skipping workflow tests)…"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get install -y --no-install-recommends default-jre-headless maven >/dev/null 2>&1 \
    || { $sudo_ apt-get update -qq && $sudo_ apt-get install -y --no-install-recommends default-jre-headless maven; }
fi
