"""The operator process itself: killed mid-reconcile, absent during a deletion, run twice with
peering, probed for liveness. Each test starts its own operator(s)."""
from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from detector_operator.builders import DETECTOR_LABEL as LABEL
from localprocs import wait_for
from tests.support.kube import apply, detector, get_json, kubectl, wait_ready
from tests.support.operator_process import OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture
def log_dir(tmp_path):
    return tmp_path


def test_operator_killed_mid_reconcile_converges_without_duplicate_children(crds, namespace, log_dir):
    names = [f"cam-{i}" for i in range(8)]
    first = OperatorProcess(log_dir).start()
    try:
        apply(namespace, *(detector(n) for n in names))
        # Kill -9 as soon as the first child exists: the rest is mid-flight.
        wait_for(lambda: kubectl("get", "-n", namespace, "deployments", "-o", "name").stdout.strip(),
                 timeout=30, interval=0.1, message="a first Deployment")
    finally:
        first.stop(kill=True)

    second = OperatorProcess(log_dir).start()
    try:
        wait_ready(namespace, *names, timeout=120)
        deployments = get_json(namespace, "deployments", "-l", "app.kubernetes.io/managed-by=detector-operator")
        services = get_json(namespace, "services", "-l", "app.kubernetes.io/managed-by=detector-operator")
        assert sorted(d["metadata"]["name"] for d in deployments["items"]) == sorted(f"{n}-detector" for n in names)
        assert sorted(s["metadata"]["name"] for s in services["items"]) == sorted(f"{n}-detector" for n in names)
        for n in names:
            od = get_json(namespace, f"od/{n}")
            assert od["status"]["observedGeneration"] == od["metadata"]["generation"]
            assert len(get_json(namespace, "replicasets", "-l", f"{LABEL}={n}")["items"]) == 1
    finally:
        second.stop()


def test_deleting_a_detector_while_the_operator_is_down_is_not_blocked(crds, namespace, log_dir):
    proc = OperatorProcess(log_dir).start()
    try:
        apply(namespace, detector("cams"))
        wait_ready(namespace, "cams")
    finally:
        proc.stop()
    # No finalizer: the API server deletes at once, garbage collection takes the children.
    kubectl("delete", "-n", namespace, "od/cams", "--timeout=20s")
    wait_for(lambda: not kubectl("get", "-n", namespace, "deployments,services", "-l", f"{LABEL}=cams",
                                 "-o", "name").stdout.strip(),
             timeout=60, message="children garbage-collected without the operator")


def test_two_replicas_with_peering_never_both_act_and_the_standby_takes_over(crds, namespace, log_dir):
    # A peering object of this test's own, so peers left from other runs cannot interfere.
    peering_name = f"detector-operator-{uuid.uuid4().hex[:6]}"
    env = {"DETECTOR_PEERING_NAME": peering_name}
    a = OperatorProcess(log_dir, standalone=False, env=env).start()
    b = OperatorProcess(log_dir, standalone=False, env=env).start()
    try:
        for proc in (a, b):
            with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=5) as rsp:
                assert rsp.status == 200

        def two_peers() -> bool:
            peering = json.loads(kubectl("get", "clusterkopfpeering", peering_name, "-o", "json").stdout)
            return len(peering.get("status") or {}) >= 2
        wait_for(two_peers, timeout=30, message="both replicas announced in the peering object")

        apply(namespace, detector("cams"))
        wait_ready(namespace, "cams")
        acted = [p for p in (a, b) if f"{namespace}/cams" in p.log_path.read_text(errors="replace")]
        assert len(acted) == 1, "exactly one replica may act"
        active, standby = acted[0], (b if acted[0] is a else a)

        # The active replica goes away: the standby resumes and serves new detectors.
        active.stop()
        apply(namespace, detector("cams-2"))
        wait_ready(namespace, "cams-2", timeout=60)
        assert f"{namespace}/cams-2: Created" in standby.log_path.read_text(errors="replace")
    finally:
        b.stop()
        a.stop()
        kubectl("delete", "clusterkopfpeering", peering_name, "--wait=false", check=False)
