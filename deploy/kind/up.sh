#!/usr/bin/env bash
# The operator in a real kind cluster, end to end: the kind cluster (hack/localkind: podman here,
# docker where an engine answers; a stand-in node image where kindest/node cannot be pulled),
# both images built (hack/localimages) and loaded into the nodes, deploy/overlays/dev installed so
# the operator runs in-cluster under its own ServiceAccount and RBAC, a model server the pods can
# reach (python's http.server on the host, bound to the kind network's IPv4 gateway only), and a
# sample ObjectDetector in a namespace that enforces PodSecurity restricted, waited for Ready.
#   deploy/kind/up.sh              # then: kubectl --kubeconfig .local/kind/kubeconfig get od -A
#   deploy/kind/down.sh            # model server stopped, cluster deleted, host settings restored
# Needs: the project's venv and kind parts (`make venv kind-tools`: built once, cached).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
PY=$REPO/.venv/bin/python
STATE=${LOCALKIND_DIR:-$REPO/.local/kind}
KIND=(--dir "$STATE" --name "${LOCALKIND_NAME:-detector-kind}")
export KUBECONFIG=$STATE/kubeconfig
export PATH=$REPO/.venv/bin:$PATH
NS=${DETECTORS_NAMESPACE:-detectors}
start=$SECONDS
step() { printf '\n==> [%3ds] %s\n' $((SECONDS - start)) "$*"; }

step "venv and kind parts (cached after the first run)"
make --no-print-directory venv kind-tools

step "kind cluster: 1 control-plane + 2 workers"
"$PY" -m localkind up "${KIND[@]}"

step "images: operator and CPU server (content-keyed: rebuilt only when their sources change)"
built=$("$PY" -m localimages build operator server-cpu)
echo "$built"
OPERATOR_IMAGE=$(sed -n 's/^operator: \([^ ]*\).*/\1/p' <<<"$built")
SERVER_IMAGE=$(sed -n 's/^server-cpu: \([^ ]*\).*/\1/p' <<<"$built")

# registry (default): pushed to the cluster's registry, nodes pull only layers they lack;
# load: podman save + kind load image-archive, whole images, skipped where a node has them.
step "images into the nodes (${KIND_IMAGES:=registry})"
# tee >(cat >&2), not tee /dev/stderr: reopening /dev/stderr truncates a log file it points to.
names=$("$PY" -m localkind load "${KIND[@]}" --via "$KIND_IMAGES" "$OPERATOR_IMAGE" "$SERVER_IMAGE" | tee >(cat >&2))
OPERATOR_IMAGE=$(awk -v r="$OPERATOR_IMAGE" '$1 == r {print $2}' <<<"$names")
SERVER_IMAGE=$(awk -v r="$SERVER_IMAGE" '$1 == r {print $2}' <<<"$names")
echo "pods run $OPERATOR_IMAGE and $SERVER_IMAGE"

step "operator in-cluster: deploy/overlays/dev with the images just built"
mkdir -p "$STATE/overlay"
cat > "$STATE/overlay/kustomization.yaml" <<YAML
# Written by deploy/kind/up.sh: deploy/overlays/dev with the locally built, content-keyed images.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$STATE/overlay" deploy/overlays/dev)
images:
  - name: ghcr.io/vision-mlops/detector-operator
    newName: ${OPERATOR_IMAGE%:*}
    newTag: ${OPERATOR_IMAGE##*:}
patches:
  - target: {kind: Deployment, name: detector-operator}
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: detector-operator}
      spec:
        template:
          spec:
            containers:
              - name: operator
                env:
                  - name: DETECTOR_CPU_IMAGE
                    value: $SERVER_IMAGE
YAML
kubectl apply --server-side -k "$STATE/overlay"
kubectl wait --for=condition=Established crd/objectdetectors.vision.mlops.dev --timeout=60s
kubectl -n detector-operator-dev rollout status deployment/detector-operator --timeout=180s

step "model server for the sample: a small Zoo-signature SavedModel over HTTP on the kind network"
GATEWAY=$("$PY" -m localkind gateway "${KIND[@]}")
MODELS=$STATE/models
if [ ! -f "$MODELS/tiny_ssd.tar.gz" ]; then
  "$PY" - "$MODELS" <<'PY'
import sys
from pathlib import Path
from tests.support.zoo_model import build_zoo_savedmodel, make_zoo_tarball
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
make_zoo_tarball(build_zoo_savedmodel(out / "export"), out / "tiny_ssd.tar.gz", name="tiny_ssd")
PY
fi
if ! { [ -f "$STATE/model-server.pid" ] && kill -0 "$(cat "$STATE/model-server.pid")" 2>/dev/null; }; then
  MODEL_PORT=$("$PY" -c 'import localprocs; print(localprocs.free_port())')
  setsid "$PY" -m http.server "$MODEL_PORT" --bind "$GATEWAY" --directory "$MODELS" \
    >"$STATE/model-server.log" 2>&1 < /dev/null &
  echo $! > "$STATE/model-server.pid"
  echo "$MODEL_PORT" > "$STATE/model-server.port"
fi
MODEL_URL="http://$GATEWAY:$(cat "$STATE/model-server.port")/tiny_ssd.tar.gz"
deadline=$((SECONDS + 30))
until curl -fsI -o /dev/null "$MODEL_URL"; do
  [ $SECONDS -lt $deadline ] || { echo "model server not answering at $MODEL_URL:"; tail "$STATE/model-server.log"; exit 1; }
  sleep 0.3
done
echo "model server (pid $(cat "$STATE/model-server.pid")) at $MODEL_URL"

step "sample ObjectDetector in namespace '$NS' (PodSecurity restricted enforced)"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/enforce-version=latest --overwrite
kubectl -n "$NS" apply -f - <<YAML
apiVersion: vision.mlops.dev/v1alpha1
kind: ObjectDetector
metadata:
  name: cpu-detector
spec:
  modelUri: $MODEL_URL
  replicas: 1
  hardware: cpu
YAML
kubectl -n "$NS" wait --for=condition=Ready od/cpu-detector --timeout=600s
kubectl -n "$NS" get od -o wide
kubectl -n "$NS" get pods -o wide

step "done in $((SECONDS - start)) s. Reach the detector:"
cat <<EOF
  export KUBECONFIG=$KUBECONFIG
  kubectl -n $NS port-forward svc/cpu-detector-detector 8080:8080 &
  curl -X POST -H 'Content-Type: image/jpeg' --data-binary @some.jpg \\
    'http://127.0.0.1:8080/v1/models/cpu-detector:detect'
  # in the cluster: $(kubectl -n "$NS" get od cpu-detector -o jsonpath='{.status.url}')
Stop everything: deploy/kind/down.sh
EOF
