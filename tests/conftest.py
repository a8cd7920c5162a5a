"""Shared fixtures: one local control plane per test session, one namespace per test.

Set DETECTOR_TEST_KUBECONFIG to run against an existing cluster (e.g. `make cluster-up`'s) instead
of starting a fresh one in .local/test-cluster-<pid>.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from tests.support.kube import kubectl

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    existing = os.environ.get("DETECTOR_TEST_KUBECONFIG")
    if existing:
        os.environ["KUBECONFIG"] = existing
        yield existing
        return
    from localcluster import Cluster

    # One directory per pytest process: concurrent runs never share (or stop) each other's cluster.
    cluster = Cluster(REPO / ".local" / f"test-cluster-{os.getpid()}")
    cluster.up()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    try:
        yield str(cluster.kubeconfig)
    finally:
        cluster.down(quiet=True)


@pytest.fixture(scope="session")
def audit_log(kubeconfig: str) -> Path:
    """The local API server's audit log: every list, watch and write a client made (localcluster)."""
    from localcluster import Cluster

    path = Cluster(Path(kubeconfig).parent).audit_log
    if not path.exists():
        pytest.fail(f"no audit log at {path}: DETECTOR_TEST_KUBECONFIG must be a localcluster cluster")
    return path


@pytest.fixture
def namespace(kubeconfig: str, request: pytest.FixtureRequest) -> str:
    """A fresh namespace that enforces PodSecurity `restricted`; deleted after the test."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"t-{base}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest")
    yield name
    # Don't wait: the namespace controller finishes the deletion in the background.
    kubectl("delete", "namespace", name, "--wait=false", check=False)
