#!/usr/bin/env bash
# Undoes deploy/kind/up.sh: stops its model server (by the PID it recorded), deletes the kind
# cluster and restores the host settings the cluster changed (python -m localkind down).
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=${LOCALKIND_DIR:-$PWD/.local/kind}
KIND=(--dir "$STATE" --name "${LOCALKIND_NAME:-detector-kind}")
if [ -f "$STATE/model-server.pid" ]; then
  pid=$(cat "$STATE/model-server.pid")
  kill "$pid" 2>/dev/null && echo "stopped the model server (pid $pid)" || true
fi
.venv/bin/python -m localkind down "${KIND[@]}"
