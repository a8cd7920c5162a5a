#!/usr/bin/env bash
# Laptop path (needs Docker, kind and kubectl): builds both images, loads them into a kind
# cluster, installs the operator from deploy/overlays/dev and applies a sample ObjectDetector.
#   deploy/kind/up.sh            # then: kubectl get od -A -w
#   kind delete cluster --name detector-operator
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=detector-operator
OPERATOR_IMAGE=ghcr.io/vision-mlops/detector-operator:dev
SERVER_IMAGE=ghcr.io/vision-mlops/detector-server:dev-cpu
SAMPLE=${SAMPLE:-deploy/argocd/detectors/ssd-mobilenet.yaml}

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "up.sh needs $tool on PATH" >&2; exit 1; }
done

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config deploy/kind/cluster.yaml

# The dev overlay names these :dev tags; no GPU image, kind nodes have no GPUs.
docker build -f Dockerfile.operator -t "$OPERATOR_IMAGE" .
docker build -f Dockerfile.server --build-arg TF_PACKAGE=tensorflow-cpu -t "$SERVER_IMAGE" .
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$SERVER_IMAGE"

kubectl config use-context "kind-$CLUSTER"
kubectl apply --server-side -k deploy/overlays/dev
kubectl wait --for=condition=Established crd/objectdetectors.vision.mlops.dev --timeout=60s
kubectl -n detector-operator-dev rollout status deployment/detector-operator --timeout=180s

# Detectors in a namespace that enforces PodSecurity restricted, as in production.
kubectl create namespace detectors --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace detectors pod-security.kubernetes.io/enforce=restricted --overwrite
kubectl -n detectors apply -f "$SAMPLE"
# The first run downloads the model and TensorFlow starts: allow a few minutes.
kubectl -n detectors wait --for=condition=Ready od --all --timeout=600s
kubectl -n detectors get od -o wide
