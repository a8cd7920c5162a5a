"""Argo CD's ObjectDetector health check, run on live objects the operator drives into each state.

Each case creates an ObjectDetector (failures simulated through kwok's pod annotations), waits
until the operator reports the state, runs health.lua on the live object and checks the result.
With UPDATE_TESTDATA=1 the objects become deploy/argocd/.../testdata/*.yaml and health_test.yaml
(the unit tests replay them); otherwise the committed testdata must still show the same states.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from localprocs import wait_for
from tests.support.kube import condition_of, kubectl, kubectl_json
from tests.unit.deploy.argocd_health import Health, evaluate

from .conftest import REPO, RunningOperator

CUSTOMIZATION = REPO / "deploy/argocd/resource_customizations/vision.mlops.dev/ObjectDetector"
MODEL = "s3://models/ssd-mobilenet-v2"


@dataclass
class Case:
    name: str
    spec: dict[str, Any]
    status: str                  # expected Argo CD health
    ready_reason: str | None     # expected Ready reason in the captured object
    annotations: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("healthy", {"replicas": 1}, "Healthy", "Serving"),
    Case("progressing-unready", {"replicas": 1, "podAnnotations": {
        "kwok.x-k8s.io/simulate": "unready"}}, "Progressing", "Deploying"),
    Case("degraded-model-load-failed", {"replicas": 1, "podAnnotations": {
        "kwok.x-k8s.io/simulate": "init-crashloop",
        "kwok.x-k8s.io/simulate-message": "s3://models/ssd-mobilenet-v2: NoSuchBucket: the bucket does not exist"}},
        "Degraded", "ModelLoadFailed"),
    Case("degraded-unschedulable", {"replicas": 1, "hardware": "gpu", "gpu": {"count": 4}},
         "Degraded", "Unschedulable"),
    Case("degraded-claim-not-found", {"replicas": 1, "modelUri": "pvc://no-such-claim/ssd"},
         "Degraded", "ClaimNotFound"),
    # Accepted by the CRD, refused by the Deployment's validation: an annotation key with spaces.
    Case("degraded-invalid-spec", {"replicas": 1, "podAnnotations": {"not a valid key": "x"}},
         "Degraded", "InvalidSpec"),
    Case("suspended-scaled-to-zero", {"replicas": 0}, "Suspended", "ScaledToZero"),
]


def manifest(case: Case, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "vision.mlops.dev/v1alpha1", "kind": "ObjectDetector",
            "metadata": {"name": case.name, "namespace": namespace},
            "spec": {"modelUri": MODEL, "hardware": "cpu"} | case.spec}


def expected_message(obj: dict[str, Any], status: str) -> str:
    """What the check should say, per the issue: the failing condition's message, else Ready's."""
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    return conditions["Degraded" if status == "Degraded" else "Ready"]["message"]


def cleaned(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as `kubectl get -o yaml` shows it, minus managedFields (noise for a reader)."""
    obj = copy.deepcopy(obj)
    obj["metadata"].pop("managedFields", None)
    return obj


def settled(case: Case, namespace: str, script: str):
    """The live object once the operator reports the case's state for the current generation."""
    def check():
        obj = kubectl_json("get", "objectdetector", case.name, "-n", namespace)
        ready = condition_of(obj)
        if (ready is None or ready.get("reason") != case.ready_reason
                or obj["status"].get("observedGeneration") != obj["metadata"]["generation"]):
            return None
        return obj, evaluate(script, obj)
    return check


@pytest.mark.cluster
def test_health_check_reports_each_state_the_operator_produces(
        operator_under_sa: RunningOperator, namespace: str):
    script = (CUSTOMIZATION / "health.lua").read_text()
    captured: dict[str, tuple[dict[str, Any], Health]] = {}

    # Before the operator has written anything: the object exactly as the API server created it.
    fresh = Case("progressing-no-status", {"replicas": 1}, "Progressing", None)
    created = yaml.safe_load(kubectl("create", "-o", "yaml", "-f", "-",
                                     input=yaml.safe_dump(manifest(fresh, namespace))).stdout)
    assert "status" not in created
    captured[fresh.name] = (created, evaluate(script, created))
    assert captured[fresh.name][1] == Health("Progressing", "Waiting for the operator to report status")

    for case in CASES:
        kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(manifest(case, namespace)))
    for case in CASES:
        obj, health = wait_for(settled(case, namespace, script), timeout=60,
                               message=f"{case.name}: Ready reason {case.ready_reason} "
                                       f"(operator log: {operator_under_sa.log})")
        assert health == Health(case.status, expected_message(obj, case.status)), case.name
        captured[case.name] = (obj, health)

    # A spec change the operator has not seen yet: the patch's own response, generation ahead.
    patched = yaml.safe_load(kubectl("patch", "objectdetector", "healthy", "-n", namespace,
                                     "--type=merge", "-p", '{"spec":{"replicas":2}}', "-o", "yaml").stdout)
    assert patched["metadata"]["generation"] > patched["status"]["observedGeneration"]
    health = evaluate(script, patched)
    assert health == Health("Progressing",
                            f"Waiting for the operator to observe generation {patched['metadata']['generation']}")
    captured["progressing-new-generation"] = (patched, health)

    if os.environ.get("UPDATE_TESTDATA") == "1":
        write_testdata(captured)
    else:
        committed = {case["inputPath"]: case["healthStatus"]["status"] for case in
                     yaml.safe_load((CUSTOMIZATION / "health_test.yaml").read_text())["tests"]}
        live = {f"testdata/{name}.yaml": health.status for name, (_, health) in captured.items()}
        assert committed == live, "testdata is stale: rerun with UPDATE_TESTDATA=1"


def write_testdata(captured: dict[str, tuple[dict[str, Any], Health]]) -> None:
    testdata = CUSTOMIZATION / "testdata"
    testdata.mkdir(exist_ok=True)
    for old in testdata.glob("*.yaml"):
        old.unlink()
    tests = []
    for name, (obj, health) in captured.items():
        (testdata / f"{name}.yaml").write_text(yaml.safe_dump(cleaned(obj), sort_keys=False))
        tests.append({"healthStatus": {"status": health.status, "message": health.message},
                      "inputPath": f"testdata/{name}.yaml"})
    header = ("# Cases in Argo CD's layout. Generated with the testdata by\n"
              "#   UPDATE_TESTDATA=1 pytest tests/integration/deploy/test_health_capture.py\n"
              "# from objects the operator produced on the local control plane.\n")
    (CUSTOMIZATION / "health_test.yaml").write_text(
        header + yaml.safe_dump({"tests": tests}, sort_keys=False, width=1000))
