#!/usr/bin/env bash
# Runs the worker or the ingest as one node process (exec: its pid is this script's) with the V8 flags that
# src/stack/nodeProcess.ts owns: the same the tests, the benchmarks and the drill run them with.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  worker) entry=src/worker.ts flags=WORKER_NODE_FLAGS ;;
  ingest) entry=src/ingest/main.ts flags=INGEST_NODE_FLAGS ;;
  *)
    echo "usage: scripts/node.sh worker|ingest" >&2
    exit 2
    ;;
esac
read -ra v8 <<<"$(node --import tsx -e "console.log(require('./src/stack/nodeProcess').$flags.join(' '))")"
exec node "${v8[@]}" --import tsx "$entry"
