"""deploy/argocd/: sync waves, sync options, the ObjectDetector health check in Argo CD's layout."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from detector_operator import status

from .argocd_health import evaluate, run_health_tests
from .conftest import REPO, render

ARGOCD = REPO / "deploy/argocd"
CUSTOMIZATION = ARGOCD / "resource_customizations/vision.mlops.dev/ObjectDetector"
CM_KEY = "resource.customizations.health.vision.mlops.dev_ObjectDetector"


def applications() -> dict[str, dict]:
    apps = [o for o in render("deploy/argocd/apps") if o["kind"] == "Application"]
    return {app["metadata"]["name"]: app for app in apps}


def wave(obj: dict) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def test_sync_waves_order_crd_then_operator_then_detectors():
    apps = applications()
    operator, detectors = apps["detector-operator"], apps["object-detectors"]
    operator_objects = render(operator["spec"]["source"]["path"])
    crd_waves = {wave(o) for o in operator_objects if o["kind"] == "CustomResourceDefinition"}
    deployment_wave = wave(next(o for o in operator_objects if o["kind"] == "Deployment"))
    assert crd_waves and max(crd_waves) < deployment_wave
    assert wave(operator) < wave(detectors)


def test_root_application_syncs_the_apps_folder():
    root = yaml.safe_load((ARGOCD / "root.yaml").read_text())
    assert root["spec"]["source"]["path"] == "deploy/argocd/apps"
    assert (REPO / root["spec"]["source"]["path"] / "kustomization.yaml").exists()


@pytest.mark.parametrize("name", ["detector-operator", "object-detectors"])
def test_applications_use_server_side_apply_and_existing_paths(name):
    app = applications()[name]
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert (REPO / app["spec"]["source"]["path"]).is_dir()


def test_operator_application_points_at_the_production_overlay():
    app = applications()["detector-operator"]
    assert app["spec"]["source"]["path"] == "deploy/overlays/production"
    namespace = next(o for o in render("deploy/overlays/production") if o["kind"] == "Namespace")
    assert app["spec"]["destination"]["namespace"] == namespace["metadata"]["name"]


def test_detectors_application_ignores_replicas_an_hpa_owns():
    app = applications()["object-detectors"]
    assert {"group": "vision.mlops.dev", "kind": "ObjectDetector",
            "jsonPointers": ["/spec/replicas"]} in app["spec"]["ignoreDifferences"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
    folder = REPO / app["spec"]["source"]["path"]
    kinds = [yaml.safe_load(p.read_text())["kind"] for p in sorted(folder.glob("*.yaml"))]
    assert "ObjectDetector" in kinds and "HorizontalPodAutoscaler" in kinds


def test_argocd_cm_patch_carries_health_lua_byte_for_byte():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["metadata"] == patch["metadata"] | {"name": "argocd-cm", "namespace": "argocd"}
    assert patch["data"][CM_KEY].encode() == (CUSTOMIZATION / "health.lua").read_bytes()


def test_argocd_cm_patch_is_generated_from_the_one_health_lua():
    spec = importlib.util.spec_from_file_location("cm_patch", ARGOCD / "cm_patch.py")
    cm_patch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cm_patch)
    assert (ARGOCD / "argocd-cm-patch.yaml").read_text() == cm_patch.render(), (
        "deploy/argocd/argocd-cm-patch.yaml is stale: run `make argocd-cm-patch` and commit the result")


def test_argocd_cm_patch_restores_application_health_for_waves_between_apps():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    script = patch["data"]["resource.customizations.health.argoproj.io_Application"]
    assert evaluate(script, {"status": {"health": {"status": "Degraded", "message": "x"}}}).status == "Degraded"
    assert evaluate(script, {"status": {}}).status == "Progressing"


def test_health_test_cases_pass_as_in_argo_cds_own_test():
    results = run_health_tests(CUSTOMIZATION)
    failures = [f"{r.input_path}: expected {r.expected}, got {r.actual}" for r in results
                if r.actual != r.expected]
    assert not failures, "\n".join(failures)


def test_health_tests_cover_every_state_with_captured_testdata():
    spec = yaml.safe_load((CUSTOMIZATION / "health_test.yaml").read_text())
    statuses = {case["healthStatus"]["status"] for case in spec["tests"]}
    assert {"Healthy", "Progressing", "Degraded"} <= statuses
    referenced = {Path(case["inputPath"]).name for case in spec["tests"]}
    on_disk = {p.name for p in (CUSTOMIZATION / "testdata").glob("*.yaml")}
    assert referenced == on_disk, "every testdata file has a case and every case a file"
    reasons = set()
    for name in on_disk:
        obj = yaml.safe_load((CUSTOMIZATION / "testdata" / name).read_text())
        assert obj["kind"] == "ObjectDetector"
        # Captured from a live object, not written by hand (see tests/integration/deploy).
        assert obj["metadata"].get("uid") and obj["metadata"].get("creationTimestamp"), name
        reasons |= {c["reason"] for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready"}
    assert {"Serving", "Deploying", "ModelLoadFailed", "Unschedulable", "InvalidSpec",
            "ClaimNotFound", "ScaledToZero"} <= reasons


def test_runner_sandbox_matches_argo_cds_libraries():
    # argocd-cm scripts get no string library; a script relying on it fails there and here.
    with pytest.raises(Exception, match="string"):
        evaluate('return {status = string.upper("healthy")}', {})
    assert evaluate('return {status = "Fine"}', {}).status == "Unknown"


def _captured_healthy(**changes: dict | None) -> dict:
    """The captured healthy object with conditions changed by type (None drops one)."""
    obj = yaml.safe_load((CUSTOMIZATION / "testdata/healthy.yaml").read_text())
    conditions = [c for c in obj["status"]["conditions"] if changes.get(c["type"], {}) is not None]
    for c in conditions:
        c.update(changes.get(c["type"]) or {})
    obj["status"]["conditions"] = conditions
    return obj


def _without_degraded(ready_status: str, reason: str, message: str) -> dict:
    """The status an older operator, or a half-written status, leaves: no Degraded condition."""
    return _captured_healthy(Degraded=None, Ready={"status": ready_status, "reason": reason, "message": message})


def test_health_lua_failure_reasons_are_the_operators():
    text = (CUSTOMIZATION / "health.lua").read_text()
    table = re.search(r"local failures = \{(.*?)\}", text, re.DOTALL).group(1)
    assert set(re.findall(r"(\w+) = true", table)) == set(status.FAILURES)


@pytest.mark.parametrize("reason", sorted(status.FAILURES))
def test_a_failure_reason_on_ready_alone_is_degraded(reason):
    script = (CUSTOMIZATION / "health.lua").read_text()
    health = evaluate(script, _without_degraded("False", reason, f"pod x: {reason} here"))
    assert (health.status, health.message) == ("Degraded", f"pod x: {reason} here")


def test_a_converging_ready_without_degraded_stays_progressing():
    script = (CUSTOMIZATION / "health.lua").read_text()
    health = evaluate(script, _without_degraded("False", "Deploying", "0/1 replicas ready"))
    assert (health.status, health.message) == ("Progressing", "0/1 replicas ready")


def test_a_rollout_of_a_new_spec_is_progressing_while_old_pods_serve():
    script = (CUSTOMIZATION / "health.lua").read_text()
    rolling = _captured_healthy(Progressing={"status": "True", "reason": "RollingOut",
                                             "message": "0/1 replicas updated"})
    health = evaluate(script, rolling)
    assert (health.status, health.message) == ("Progressing", "Rolling out: 0/1 replicas updated")


def test_a_blocked_rollout_is_degraded_in_argo_cd_while_the_old_pods_serve():
    script = (CUSTOMIZATION / "health.lua").read_text()
    message = "the new spec does not roll out, earlier pods keep serving: pod x: model download failed"
    blocked = _captured_healthy(
        Progressing={"status": "False", "reason": "RolloutBlocked", "message": message},
        Degraded={"status": "True", "reason": "ModelLoadFailed", "message": "pod x: model download failed"})
    health = evaluate(script, blocked)
    assert (health.status, health.message) == ("Degraded", "pod x: model download failed")
