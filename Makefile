# Two commands a new user needs: `make demo` (the main job) and `make test` (the whole suite).
# Both install what they need: a virtualenv in .venv and the control-plane binaries in
# ~/.cache/detector-operator (built once from the Go module proxy, keyed by version).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export KUBECONFIG ?= $(CURDIR)/.local/cluster/kubeconfig
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv tools cluster-up cluster-down cluster-status demo demo-down test-tools test test-unit crds bench-operator bench-server lint

help:
	@echo "make demo          cluster up, CRD, operator, samples, a detection answered"
	@echo "make test          the whole test suite (installs what it needs)"
	@echo "make cluster-up | cluster-down | cluster-status"
	@echo "make crds          regenerate crds/ from the pydantic model"
	@echo "make bench-operator | bench-server"

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing Python dependencies (TensorFlow is ~300 MB: about a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[operator,server,dev]'
	@touch $@

venv: $(VENV)/.installed

tools:
	@bash hack/install-tools.sh

cluster-up: venv tools
	@$(PY) -m localcluster up

cluster-down: venv
	@$(PY) -m localcluster down

cluster-status: venv
	@$(PY) -m localcluster status

demo: venv tools
	@bash hack/demo.sh

demo-down:
	@bash hack/demo-down.sh

# What only the tests need: actionlint (built from the Go module proxy) and Debian's Chromium.
test-tools:
	@bash hack/install-actionlint.sh
	@bash hack/install-chromium.sh

test: venv tools test-tools
	@$(PY) -m pytest -ra $(PYTEST_ARGS)

test-unit: venv
	@$(PY) -m pytest -ra tests/unit $(PYTEST_ARGS)

crds: venv
	@$(PY) -m detector_operator.crdgen > crds/objectdetectors.vision.mlops.dev.yaml

bench-operator: venv tools
	@$(PY) bench/operator_scale.py $(BENCH_ARGS)

bench-server: venv
	@$(PY) bench/server_throughput.py --model-kind mobile $(BENCH_ARGS)
