# Two commands a new user needs: `make demo` (the main job) and `make test` (the whole suite).
# Both install what they need: a virtualenv in .venv and the control-plane binaries in
# ~/.cache/detector-operator (built once from the Go module proxy, keyed by version).
# Every target has a `## what it does` comment: `make help` lists them from this file.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export KUBECONFIG ?= $(CURDIR)/.local/cluster/kubeconfig
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help venv tools kind-tools kind-up kind-down kind-status test-kind argocd argocd-up argocd-down argocd-status images cluster-up cluster-down cluster-status demo demo-down test-tools test test-unit crds rbac argocd-cm-patch protos lint bench-operator bench-server

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ The two commands
demo: venv tools argocd kind-tools ## the main job: a detector applied on kind answers from its own pod; GPU placement and Argo CD on simulated nodes
	@bash hack/demo.sh

test: venv tools argocd kind-tools test-tools images ## the whole test suite, as CI runs it (.ci/run); the kind tests included
	@DETECTOR_KIND_TESTS=1 $(PY) -m pytest -ra $(PYTEST_ARGS)

##@ Local control plane
cluster-up: venv tools ## start etcd, kube-apiserver, controller-manager, scheduler and kwok nodes
	@$(PY) -m localcluster up

cluster-down: venv ## stop the control plane and remove its state
	@$(PY) -m localcluster down

cluster-status: venv ## what runs, with PIDs and logs
	@$(PY) -m localcluster status

demo-down: ## stop what `make demo` started
	@bash hack/demo-down.sh

##@ Local kind cluster (real kubelets in podman or docker containers)
kind-up: venv tools kind-tools ## 1 control-plane + 2 worker nodes (podman here, docker where an engine answers)
	@$(PY) -m localkind up

kind-down: venv ## delete the kind cluster, restore the host settings its kubelets changed
	@$(PY) -m localkind down

kind-status: venv ## the kind cluster's nodes, node image and kubeconfig
	@$(PY) -m localkind status

test-kind: venv tools kind-tools images ## the real-node tests: a kind cluster, the operator in-cluster, real pods
	@DETECTOR_KIND_TESTS=1 $(PY) -m pytest -ra tests/integration/kind $(PYTEST_ARGS)

##@ Local Argo CD (against the local control plane)
argocd-up: venv argocd ## start redis, Argo CD's repo server and controller, a git server holding deploy/
	@$(PY) -m localargocd up

argocd-down: venv ## stop the local Argo CD and remove its state
	@$(PY) -m localargocd down

argocd-status: venv ## what runs, with PIDs and logs
	@$(PY) -m localargocd status

##@ Development
venv: $(VENV)/.installed ## the virtualenv with the operator, the server and the test tools

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing Python dependencies (TensorFlow is ~300 MB: about a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[operator,server,dev]'
	@$(PY) deploy/images/pyproject_requirements.py pyproject.toml server --no-deps > $(VENV)/no-deps.txt
	@$(PY) -m pip install --quiet --no-deps --requirement $(VENV)/no-deps.txt
	@touch $@

tools: ## build the pinned control-plane binaries (cached; about 10 min when cold)
	@bash hack/install-tools.sh

kind-tools: ## build kind, containerd, kubelet/kubeadm/kube-proxy, CoreDNS, a registry (cached; ~8 min cold)
	@bash hack/install-kind.sh

argocd: ## build the pinned Argo CD parts and kustomize, install redis (cached; about 7 min when cold)
	@bash hack/install-argocd.sh

images: venv ## build the operator and CPU server images (buildah or docker; cached by content; ~8 min cold)
	@$(PY) -m localimages build $(IMAGES)

test-tools: ## what only the tests need: actionlint (Go module proxy) and Debian's Chromium
	@bash hack/install-actionlint.sh
	@bash hack/install-chromium.sh

test-unit: venv ## the unit tests alone (seconds, no cluster)
	@$(PY) -m pytest -ra tests/unit $(PYTEST_ARGS)

lint: venv ## import layers (import-linter), ruff and mypy (rules in pyproject.toml); unit tests run the same
	@$(VENV)/bin/lint-imports
	@$(VENV)/bin/ruff check
	@$(PY) -m mypy

protos: ## regenerate the Open Inference Protocol's gRPC code (inference_server/protocol/oip/)
	@bash hack/gen-protos.sh

crds: venv ## regenerate crds/ from the pydantic model
	@$(PY) -m detector_operator.crdgen > crds/objectdetectors.vision.mlops.dev.yaml

rbac: venv ## regenerate the operator's RBAC for every overlay from its child kinds (children.py)
	@$(PY) -m detector_operator.rbacgen cluster > deploy/base/rbac.yaml
	@$(PY) -m detector_operator.rbacgen namespaced > deploy/overlays/namespaced/role.yaml

argocd-cm-patch: ## regenerate deploy/argocd/argocd-cm-patch.yaml from the one health.lua
	@$(PY) deploy/argocd/cm_patch.py > deploy/argocd/argocd-cm-patch.yaml

##@ Benchmarks (not tests: they print medians and ratios)
bench-operator: venv tools ## operator scale against bare-client floors, on its own control plane
	@$(PY) bench/operator_scale.py $(BENCH_ARGS)

bench-server: venv ## server throughput against in-process TensorFlow and KServe
	@$(PY) bench/server_throughput.py --model-kind mobile $(BENCH_ARGS)
