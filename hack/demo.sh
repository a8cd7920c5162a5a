#!/usr/bin/env bash
# The main job, end to end on this machine: a local control plane with simulated CPU and GPU
# nodes, the CRD, the operator, the sample ObjectDetectors Ready, and a real inference server
# answering a detection request, then (DEMO_GITOPS=0 skips it) a detector delivered by a real
# Argo CD from a local git repository. Leaves everything running; `make demo-down` stops it all.
# Ports: free ones are chosen (DEMO_SERVER_PORT, DEMO_MODEL_PORT, DEMO_GRPC_PORT and
# DETECTOR_LIVENESS_PORT pick them instead, and must be free).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=$REPO/.venv/bin/python
# Overridable so the e2e test can run the same script beside a developer's own demo.
CLUSTER_DIR=${LOCALCLUSTER_DIR:-$REPO/.local/cluster}
DEMO=${DEMO_DIR:-$REPO/.local/demo}
ARGOCD_DIR=${LOCALARGOCD_DIR:-$REPO/.local/argocd}
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
MODEL_PORT=$(port_for model-files "model file server" "${DEMO_MODEL_PORT:-}")
SERVER_PORT=$(port_for server "inference server (HTTP)" "${DEMO_SERVER_PORT:-}")
GRPC_PORT=$(port_for server-grpc "inference server (gRPC)" "${DEMO_GRPC_PORT:-}" server)

step "control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes)"
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

step "operator (python -m detector_operator, watching all namespaces)"
DETECTOR_LIVENESS_PORT=$LIVENESS_PORT run_bg operator "$PY" -m detector_operator --standalone
wait_own operator "http://127.0.0.1:$LIVENESS_PORT/healthz" 60

step "sample ObjectDetectors in namespace 'demo' (PodSecurity restricted enforced)"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace demo pod-security.kubernetes.io/enforce=restricted --overwrite
kubectl -n demo apply -f samples/cpu-detector.yaml -f samples/gpu-l4-detector.yaml -f samples/gpu-a100-detector.yaml
kubectl -n demo wait od cpu-detector gpu-l4-detector gpu-a100-detector --for=condition=Ready --timeout=120s
kubectl -n demo get od
kubectl -n demo get pods -o wide

step "a real inference server on 127.0.0.1 with a small Zoo-signature SavedModel"
# Simulated nodes run no containers, so the server runs here as a local process, fetching the
# model over HTTP the way the init container does in a pod.
if [ ! -f "$DEMO/models/tiny_ssd.tar.gz" ]; then
  "$PY" - "$DEMO/models" <<'PY'
import sys
from pathlib import Path
from tests.support.zoo_model import build_zoo_savedmodel, make_zoo_tarball
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
make_zoo_tarball(build_zoo_savedmodel(out / "export"), out / "tiny_ssd.tar.gz", name="tiny_ssd")
PY
fi
run_bg model-files "$PY" -m http.server "$MODEL_PORT" --bind 127.0.0.1 --directory "$DEMO/models"
wait_own model-files "http://127.0.0.1:$MODEL_PORT/tiny_ssd.tar.gz" 30
run_bg server "$PY" -m inference_server --model-uri "http://127.0.0.1:$MODEL_PORT/tiny_ssd.tar.gz" \
  --model-name tiny-ssd --host 127.0.0.1 --port "$SERVER_PORT" --grpc-port "$GRPC_PORT"
# Ours, not a stranger on the port: it serves the model this demo loaded.
wait_own server "http://127.0.0.1:$SERVER_PORT/v2/models/tiny-ssd/ready" 120

step "a detection request: POST /v1/models/tiny-ssd:detect with a JPEG"
"$PY" - "$DEMO/street.jpg" <<'PY'
import sys
from PIL import Image, ImageDraw
img = Image.new("RGB", (640, 480), (90, 110, 130))
d = ImageDraw.Draw(img)
d.rectangle((80, 200, 260, 420), fill=(200, 40, 40)); d.ellipse((360, 120, 560, 320), fill=(240, 220, 60))
img.save(sys.argv[1], quality=90)
PY
curl -fsS -X POST -H 'Content-Type: image/jpeg' --data-binary "@$DEMO/street.jpg" \
  "http://127.0.0.1:$SERVER_PORT/v1/models/tiny-ssd:detect?threshold=0.3" > "$DEMO/detections.json"
"$PY" - "$DEMO/detections.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
found = answer["detections"]
print(f"model {answer['model']}: {len(found)} detections in a {answer['image']['width']}x{answer['image']['height']} image")
for d in found[:5]:
    b = d["box"]
    print(f"  {d['label']:<12} score {d['score']:.2f}  box ({b['xmin']:.0f},{b['ymin']:.0f})-({b['xmax']:.0f},{b['ymax']:.0f})")
PY

if [ "${DEMO_GITOPS:-1}" != 0 ]; then
  step "GitOps: a real Argo CD syncs deploy/ from a local git repository (a fork of this one)"
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
  kubectl -n object-detectors get od
fi

step "done in $((SECONDS - start))s"
cat <<MSG
  export KUBECONFIG=$KUBECONFIG
  kubectl -n demo get od            # the detectors
  kubectl -n demo describe od cpu-detector
  open http://127.0.0.1:$SERVER_PORT/   # try the web page
  kubectl -n argocd get applications  # what Argo CD delivered (unless DEMO_GITOPS=0)
  make demo-down                    # stop the server, the operator, Argo CD and the cluster
MSG
