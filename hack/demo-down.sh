#!/usr/bin/env bash
# Stops what `make demo` started (by recorded PIDs: the port-forward, the kwok part's operator), then
# the local Argo CD and control plane, then the kind cluster (deploy/kind/down.sh: its model server,
# the cluster, the host settings its kubelets changed).
cd "$(dirname "$0")/.."
DEMO=${DEMO_DIR:-.local/demo}
for pidfile in "$DEMO"/*.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null && echo "stopped $(basename "$pidfile" .pid) (pid $pid)"
  rm -f "$pidfile"
done
rm -f "$DEMO"/*.port
.venv/bin/python -m localargocd down --dir "${LOCALARGOCD_DIR:-.local/argocd}"
.venv/bin/python -m localcluster down --dir "${LOCALCLUSTER_DIR:-.local/cluster}"
LOCALKIND_DIR=${LOCALKIND_DIR:-$PWD/.local/kind} LOCALKIND_NAME=${LOCALKIND_NAME:-detector-kind} bash deploy/kind/down.sh
