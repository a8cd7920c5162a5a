#!/usr/bin/env bash
# The main job, end to end on this machine, in two parts:
# 1. Real: deploy/kind/up.sh (a kind cluster with real kubelets, the operator in-cluster, a model
#    server on the kind network, cpu-detector applied with kubectl and Ready in namespace 'demo'),
#    then a detection answered by that detector's own pod through its Service
#    (kubectl port-forward svc/cpu-detector-detector).
# 2. Simulated: GPU placement on the local control plane's kwok nodes, which run no containers, so
#    the GPU samples there are labelled simulated and their `Serving` is the simulated lifecycle's;
#    then (DEMO_GITOPS=0 skips it) a detector delivered by a real Argo CD, on the same kwok nodes.
# Leaves everything running; `make demo-down` stops it all (kind-down included).
# Ports: free ones are chosen (DEMO_SERVER_PORT, the port-forward's local port, and
# DETECTOR_LIVENESS_PORT pick them instead, and must be free).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=$REPO/.venv/bin/python
# Overridable so the e2e test can run the same script beside a developer's own demo.
CLUSTER_DIR=${LOCALCLUSTER_DIR:-$REPO/.local/cluster}
DEMO=${DEMO_DIR:-$REPO/.local/demo}
ARGOCD_DIR=${LOCALARGOCD_DIR:-$REPO/.local/argocd}
# The kind cluster's state dir and name, as deploy/kind/up.sh and down.sh read them.
export LOCALKIND_DIR=${LOCALKIND_DIR:-$REPO/.local/kind}
export LOCALKIND_NAME=${LOCALKIND_NAME:-detector-kind}
KIND_KUBECONFIG=$LOCALKIND_DIR/kubeconfig
# Marks what runs on kwok nodes: no container runs there, so their Serving is simulated.
SIMULATED_LABEL=demo.mlops.dev/simulated
export KUBECONFIG=$CLUSTER_DIR/kubeconfig
export PATH=$REPO/.venv/bin:$PATH
mkdir -p "$DEMO"
start=$SECONDS
step() { printf '\n==> [%3ds] %s\n' $((SECONDS - start)) "$*"; }

# Starts a background process once, recording its PID so `make demo-down` can stop it.
run_bg() {
  local name=$1; shift
  if [ -f "$DEMO/$name.pid" ] && kill -0 "$(cat "$DEMO/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$DEMO/$name.pid"))"; return
  fi
  setsid "$@" >"$DEMO/$name.log" 2>&1 < /dev/null &
  echo $! > "$DEMO/$name.pid"
  echo "$name started (pid $!, log $DEMO/$name.log)"
}

# The port a background process listens on: the one it already has when it runs, else the
# caller's choice (refused when another process holds it), else a free one. Recorded beside its PID.
port_for() {  # port name, what it is, the caller's choice or "", the process (default: the name)
  local name=$1 what=$2 chosen=${3:-} proc=${4:-$1}
  if [ -f "$DEMO/$proc.pid" ] && kill -0 "$(cat "$DEMO/$proc.pid")" 2>/dev/null && [ -f "$DEMO/$name.port" ]; then
    cat "$DEMO/$name.port"; return
  fi
  if [ -z "$chosen" ]; then
    chosen=$("$PY" -c 'import localprocs; print(localprocs.free_port())')
  elif ! "$PY" -c 'import sys, localprocs; sys.exit(localprocs.port_taken(int(sys.argv[1])))' "$chosen"; then
    echo "port $chosen for the $what is taken by another process: stop it or choose another port" >&2
    return 1
  fi
  echo "$chosen" | tee "$DEMO/$name.port"
}

# Waits for our own process to answer: a process that exits (a port it could not bind, a model
# it could not load) fails the demo with its log instead of a timeout.
wait_own() {  # name, url, seconds
  local pid deadline=$((SECONDS + $3))
  pid=$(cat "$DEMO/$1.pid")
  until curl -fs -o /dev/null "$2"; do
    kill -0 "$pid" 2>/dev/null || { echo "$1 (pid $pid) exited; its log:"; tail -n 30 "$DEMO/$1.log"; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $2 ($1 log: $DEMO/$1.log)"; return 1; }
    sleep 0.5
  done
}

# Every port is settled before anything starts: a taken one stops the demo at once.
LIVENESS_PORT=$(port_for operator "operator's liveness endpoint" "${DETECTOR_LIVENESS_PORT:-}")
SERVER_PORT=$(port_for port-forward "detector's port-forward (HTTP)" "${DEMO_SERVER_PORT:-}")

step "REAL NODES: deploy/kind/up.sh (kind cluster, images, operator in-cluster, cpu-detector Ready)"
DETECTORS_NAMESPACE=demo bash deploy/kind/up.sh
KUBECONFIG=$KIND_KUBECONFIG kubectl -n demo get pods -o wide

step "a detection from cpu-detector's own pod: kubectl port-forward svc/cpu-detector-detector $SERVER_PORT:8080"
run_bg port-forward kubectl --kubeconfig "$KIND_KUBECONFIG" -n demo port-forward \
  svc/cpu-detector-detector "$SERVER_PORT:8080" --address 127.0.0.1
wait_own port-forward "http://127.0.0.1:$SERVER_PORT/v2/models/cpu-detector/ready" 60
"$PY" - "$DEMO/street.jpg" <<'PY'
import sys
from PIL import Image, ImageDraw
img = Image.new("RGB", (640, 480), (90, 110, 130))
d = ImageDraw.Draw(img)
d.rectangle((80, 200, 260, 420), fill=(200, 40, 40)); d.ellipse((360, 120, 560, 320), fill=(240, 220, 60))
img.save(sys.argv[1], quality=90)
PY
echo "POST http://127.0.0.1:$SERVER_PORT/v1/models/cpu-detector:detect (a JPEG)"
curl -fsS -X POST -H 'Content-Type: image/jpeg' --data-binary "@$DEMO/street.jpg" \
  "http://127.0.0.1:$SERVER_PORT/v1/models/cpu-detector:detect?threshold=0.3" > "$DEMO/detections.json"
"$PY" - "$DEMO/detections.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
found = answer["detections"]
print(f"model {answer['model']}: {len(found)} detections in a {answer['image']['width']}x{answer['image']['height']} image")
for d in found[:5]:
    b = d["box"]
    print(f"  {d['label']:<12} score {d['score']:.2f}  box ({b['xmin']:.0f},{b['ymin']:.0f})-({b['xmax']:.0f},{b['ymax']:.0f})")
PY

step "SIMULATED: local control plane with kwok nodes (CPU and GPU; they run no containers)"
"$PY" -m localcluster up --dir "$CLUSTER_DIR"
kubectl get nodes -L nvidia.com/gpu.product

step "CRDs"
kubectl apply --server-side -k crds/
kubectl wait --for=condition=Established crd/objectdetectors.vision.mlops.dev --timeout=60s
# Served, not only Established: kopf resolves its resources through discovery at start-up, which
# may lag the CRD's last event (and then kopf would not look again).
deadline=$((SECONDS + 60))
until kubectl get objectdetectors -A >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "the ObjectDetector CRD is not served after 60 s"; exit 1; }
  sleep 0.5
done

step "SIMULATED: operator for the kwok nodes (python -m detector_operator, watching all namespaces)"
DETECTOR_LIVENESS_PORT=$LIVENESS_PORT run_bg operator "$PY" -m detector_operator --standalone
wait_own operator "http://127.0.0.1:$LIVENESS_PORT/healthz" 60

step "SIMULATED: GPU placement, the GPU samples on simulated GPU nodes in namespace 'simulated' (no model loads: Serving there is simulated)"
kubectl create namespace simulated --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace simulated pod-security.kubernetes.io/enforce=restricted "$SIMULATED_LABEL=kwok" --overwrite
kubectl -n simulated apply -f samples/gpu-l4-detector.yaml -f samples/gpu-a100-detector.yaml
kubectl -n simulated label od gpu-l4-detector gpu-a100-detector "$SIMULATED_LABEL=kwok" --overwrite
kubectl -n simulated annotate od gpu-l4-detector gpu-a100-detector --overwrite \
  "$SIMULATED_LABEL=kwok nodes run no containers: this Serving is simulated, no model is downloaded or served"
kubectl -n simulated wait od gpu-l4-detector gpu-a100-detector --for=condition=Ready --timeout=120s
kubectl -n simulated get od -L "$SIMULATED_LABEL"
kubectl -n simulated get pods -o wide

if [ "${DEMO_GITOPS:-1}" != 0 ]; then
  step "SIMULATED NODES, real Argo CD: it syncs deploy/ from a local git repository (a fork of this one) onto the kwok nodes"
  "$PY" -m localargocd up --dir "$ARGOCD_DIR" --kubeconfig "$KUBECONFIG"
  "$PY" -m localargocd root-app --dir "$ARGOCD_DIR" | kubectl apply -n argocd -f -
  # The root app creates the operator's app (CRDs, RBAC, Deployment), then the detectors' app.
  for app in detector-operator-root detector-operator object-detectors; do
    deadline=$((SECONDS + 240))
    until [ "$(kubectl -n argocd get application "$app" -o jsonpath='{.status.sync.status}/{.status.health.status}' 2>/dev/null)" = Synced/Healthy ]; do
      [ $SECONDS -lt $deadline ] || { echo "application $app not Synced/Healthy; logs in $ARGOCD_DIR/logs"; exit 1; }
      sleep 1
    done
  done
  kubectl -n argocd get applications \
    -o custom-columns=APPLICATION:.metadata.name,SYNC:.status.sync.status,HEALTH:.status.health.status,REVISION:.status.sync.revision
  echo "(on kwok nodes: the Serving below is simulated, nothing downloads its model)"
  kubectl -n object-detectors get od
fi

step "done in $((SECONDS - start))s"
cat <<MSG
  Real nodes (kind):
  export KUBECONFIG=$KIND_KUBECONFIG
  kubectl -n demo get od,pods -o wide     # cpu-detector, its pod on a kind worker
  curl -X POST -H 'Content-Type: image/jpeg' --data-binary @$DEMO/street.jpg \\
    http://127.0.0.1:$SERVER_PORT/v1/models/cpu-detector:detect   # through the port-forward
  open http://127.0.0.1:$SERVER_PORT/     # the detector's web page, served by its pod
  Simulated nodes (kwok) and Argo CD:
  export KUBECONFIG=$KUBECONFIG
  kubectl -n simulated get od -L $SIMULATED_LABEL   # GPU placement, simulated
  kubectl -n argocd get applications      # what Argo CD delivered (unless DEMO_GITOPS=0)
  make demo-down                          # stop the port-forward, operator, Argo CD, control plane and kind
MSG
