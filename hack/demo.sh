#!/usr/bin/env bash
# The main job, end to end on this machine: a local control plane with simulated CPU and GPU
# nodes, the CRD, the operator, the sample ObjectDetectors Ready, and a real inference server
# answering a detection request. Leaves everything running; `make demo-down` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=$REPO/.venv/bin/python
# Overridable so the e2e test can run the same script beside a developer's own demo.
CLUSTER_DIR=${LOCALCLUSTER_DIR:-$REPO/.local/cluster}
DEMO=${DEMO_DIR:-$REPO/.local/demo}
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

wait_http() {  # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -fs -o /dev/null "$1"; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $1"; return 1; }
    sleep 0.5
  done
}

step "control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes)"
"$PY" -m localcluster up --dir "$CLUSTER_DIR"
kubectl get nodes -L nvidia.com/gpu.product

step "CRDs"
kubectl apply --server-side -k crds/
kubectl wait --for=condition=Established crd/objectdetectors.vision.mlops.dev --timeout=60s

step "operator (python -m detector_operator, watching all namespaces)"
DETECTOR_LIVENESS_PORT=${DETECTOR_LIVENESS_PORT:-18081} run_bg operator "$PY" -m detector_operator --standalone

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
MODEL_PORT=${DEMO_MODEL_PORT:-18090}
SERVER_PORT=${DEMO_SERVER_PORT:-18080}
run_bg model-files "$PY" -m http.server "$MODEL_PORT" --bind 127.0.0.1 --directory "$DEMO/models"
wait_http "http://127.0.0.1:$MODEL_PORT/" 30
run_bg server "$PY" -m inference_server --model-uri "http://127.0.0.1:$MODEL_PORT/tiny_ssd.tar.gz" \
  --model-name tiny-ssd --host 127.0.0.1 --port "$SERVER_PORT"
wait_http "http://127.0.0.1:$SERVER_PORT/v2/health/ready" 120

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

step "done in $((SECONDS - start))s"
cat <<MSG
  export KUBECONFIG=$KUBECONFIG
  kubectl -n demo get od            # the detectors
  kubectl -n demo describe od cpu-detector
  open http://127.0.0.1:$SERVER_PORT/   # try the web page
  make demo-down                    # stop the server, the operator and the cluster
MSG
