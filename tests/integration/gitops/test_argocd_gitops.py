"""GitOps through a real Argo CD (application controller + repo server, v3.2.11) against the real
control plane, from a fork of deploy/ on a local git server: the user's path, unchanged.

The tests share one tree (conftest.py) and run in file order: the first proves the sync from
nothing; each later one starts from everything Synced and Healthy and leaves it so.
"""
from __future__ import annotations

import json
import math
import time
from datetime import datetime

import pytest
import yaml

from localargocd import fork
from localprocs import wait_for
from tests.support.gitops import (
    APPS,
    DETECTORS_APP,
    DETECTORS_DIR,
    DETECTORS_NS,
    OPERATOR_APP,
    GitOps,
    detector_manifest,
)
from tests.support.kube import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SAMPLE = "ssd-mobilenet"
KIND = "ObjectDetector"
FAILED = ("Failed", "Error")


def all_synced_and_healthy(gitops: GitOps, timeout: float = 120) -> None:
    for name in APPS:
        gitops.wait_app(name, timeout=timeout)


def reconciled_at(app) -> float:
    """When Argo CD last compared the app with Git (wall clock, whole seconds)."""
    stamp = (app.body.get("status") or {}).get("reconciledAt")
    return datetime.fromisoformat(stamp).timestamp() if stamp else 0.0


def detector_ready_message(gitops: GitOps, name: str) -> str:
    od = gitops.get(f"objectdetector/{name}")
    return next(c["message"] for c in od["status"]["conditions"] if c["type"] == "Ready" and c["status"] == "True")


def test_the_tree_syncs_from_nothing_in_order_with_no_failed_attempt(gitops: GitOps):
    all_synced_and_healthy(gitops, timeout=300)
    seen = gitops.watch.since(0)
    # App of apps in waves: the detectors' Application is created only once the operator's is Healthy.
    operator_healthy = min(s.at for s in seen if s.name == OPERATOR_APP and s.health == "Healthy")
    detectors_created = min(s.at for s in seen if s.name == DETECTORS_APP)
    assert detectors_created >= operator_healthy
    # Inside the operator's app: the CRDs (wave -1) before the Deployment that watches them.
    crd = gitops.get("crd/objectdetectors.vision.mlops.dev", namespace="default")
    deployment = gitops.get("deployment/detector-operator", namespace="detector-operator-system")
    assert crd["metadata"]["creationTimestamp"] <= deployment["metadata"]["creationTimestamp"]
    # No sync attempt failed on the way (argo-cd#25084's CRD-Established race would show here).
    failed = [(s.name, s.phase, s.message) for s in seen if s.phase in FAILED or s.retries]
    assert failed == []
    # Both namespaces Argo CD created enforce PodSecurity restricted (the operator's from the
    # overlay, the detectors' from the Application's managedNamespaceMetadata).
    for ns in ("detector-operator-system", DETECTORS_NS):
        labels = gitops.get(f"namespace/{ns}", namespace="default")["metadata"]["labels"]
        assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", ns
    # Each detector's health is computed by Argo CD from our Lua script: Healthy with Ready's message.
    app = gitops.app(DETECTORS_APP)
    resource = app.resource(KIND, SAMPLE)
    assert resource["health"] == {"status": "Healthy", "message": detector_ready_message(gitops, SAMPLE)}


def test_operator_writes_never_show_as_drift_but_a_foreign_write_does(gitops: GitOps):
    all_synced_and_healthy(gitops)
    mark = gitops.watch.mark()
    # Keep the operator busy for 60 s: pods replaced (status goes Deploying and back to Serving).
    pod_rounds = 0
    deadline = time.monotonic() + 60
    # At least 3 rounds even when a loaded machine makes a round slow (each is bounded by its wait).
    while time.monotonic() < deadline or pod_rounds < 3:
        gitops.kubectl("-n", DETECTORS_NS, "delete", "pod", "-l", f"vision.mlops.dev/detector={SAMPLE}", "--wait=false")
        pod_rounds += 1
        wait_for(lambda: detector_ready_message(gitops, SAMPLE), timeout=60, message="detector Ready again")
        gitops.refresh(DETECTORS_APP)
        time.sleep(5)  # pacing between rounds, not a wait for a state
    window = gitops.watch.since(mark)
    assert pod_rounds >= 3 and len(window) > pod_rounds
    drifted = [(s.name, s.sync) for s in window if s.sync != "Synced"]
    assert drifted == []
    # The check can fail: a write by another field manager to a field Git sets is drift.
    mark = gitops.watch.mark()
    gitops.kubectl("-n", DETECTORS_NS, "label", f"objectdetector/{SAMPLE}", "--overwrite",
                   "--field-manager=someone-else", "app.kubernetes.io/part-of=drifted")
    wait_for(lambda: any(s.sync == "OutOfSync" for s in gitops.watch.since(mark, DETECTORS_APP)),
             timeout=60, interval=0.2, message="Argo CD to see the foreign label as OutOfSync")
    # ...and self-heal puts Git's value back.
    wait_for(lambda: gitops.get(f"objectdetector/{SAMPLE}")["metadata"]["labels"]["app.kubernetes.io/part-of"]
             == "object-detectors", timeout=60, message="self-heal to restore the label")
    all_synced_and_healthy(gitops)


def test_a_commit_changing_the_model_rolls_the_detector_out(gitops: GitOps):
    all_synced_and_healthy(gitops)
    path = f"{DETECTORS_DIR}/{SAMPLE}.yaml"
    manifest = yaml.safe_load(gitops.git.read(path))
    new_uri = manifest["spec"]["modelUri"].replace("ssd_mobilenet_v2_320x320", "ssd_mobilenet_v2_fpnlite_320x320")
    assert new_uri != manifest["spec"]["modelUri"]
    manifest["spec"]["modelUri"] = new_uri
    mark = gitops.watch.mark()
    sha = gitops.commit({path: yaml.safe_dump(manifest, sort_keys=False)}, "ssd-mobilenet: the FPN-lite model")
    gitops.wait_app(DETECTORS_APP, revision=sha, health="Healthy")
    progressing = gitops.wait_resource_health(KIND, SAMPLE, "Progressing", mark=mark)
    gitops.wait_resource_health(KIND, SAMPLE, "Healthy", mark=mark, after=progressing.at)
    deployment = gitops.get(f"deployment/{SAMPLE}-detector")
    assert new_uri in json.dumps(deployment["spec"]["template"]["spec"]["initContainers"])
    wait_for(lambda: (d := gitops.get(f"deployment/{SAMPLE}-detector"))["status"].get("updatedReplicas") == 1
             and d["status"].get("observedGeneration") == d["metadata"]["generation"],
             timeout=60, message="the Deployment rolled to the new model")


def test_a_detector_no_node_can_hold_is_degraded_until_git_fixes_it(gitops: GitOps):
    all_synced_and_healthy(gitops)
    path = f"{DETECTORS_DIR}/too-many-gpus.yaml"
    mark = gitops.watch.mark()
    gitops.commit({path: detector_manifest("too-many-gpus", hardware="gpu", gpu={"count": 8})}, "a detector on 8 GPUs")
    degraded = gitops.wait_resource_health(KIND, "too-many-gpus", "Degraded", mark=mark)
    message = degraded.resource(KIND, "too-many-gpus")["health"]["message"]
    assert "Insufficient nvidia.com/gpu" in message
    gitops.wait_app(DETECTORS_APP, health="Degraded")
    sha = gitops.commit({path: detector_manifest("too-many-gpus", hardware="gpu", gpu={"count": 1})},
                        "one GPU is enough")
    gitops.wait_app(DETECTORS_APP, revision=sha)
    assert gitops.app(DETECTORS_APP).resource(KIND, "too-many-gpus")["health"]["status"] == "Healthy"
    sha = gitops.commit({path: None}, "drop the GPU detector")
    gitops.wait_app(DETECTORS_APP, revision=sha)


def test_kubectl_scale_is_kept_and_a_hand_edit_is_healed(gitops: GitOps):
    all_synced_and_healthy(gitops)
    gitops.kubectl("-n", DETECTORS_NS, "scale", f"objectdetector/{SAMPLE}", "--replicas=3")
    scaled_at = time.time()
    wait_for(lambda: gitops.get(f"deployment/{SAMPLE}-detector")["spec"]["replicas"] == 3, timeout=30,
             message="the Deployment scaled to 3")
    # Judge only once Argo CD has compared the live object after the scale. reconciledAt has whole
    # seconds, so the refresh is asked for once the clock has passed the scale's second.
    after = math.ceil(scaled_at)
    wait_for(lambda: time.time() >= after, timeout=2, interval=0.05, message="the next second")
    gitops.refresh(DETECTORS_APP)
    wait_for(lambda: reconciled_at(gitops.app(DETECTORS_APP)) >= after, timeout=60,
             message="a comparison after the scale")
    app = gitops.wait_app(DETECTORS_APP, timeout=60)
    assert app.sync == "Synced"
    assert gitops.get(f"objectdetector/{SAMPLE}")["spec"]["replicas"] == 3
    # A hand edit of a field Git sets is put back by self-heal.
    git_uri = yaml.safe_load(gitops.git.read(f"{DETECTORS_DIR}/{SAMPLE}.yaml"))["spec"]["modelUri"]
    gitops.kubectl("-n", DETECTORS_NS, "patch", f"objectdetector/{SAMPLE}", "--type=merge",
                   "-p", '{"spec": {"modelUri": "http://models.invalid/hand-edited.tar.gz"}}')
    wait_for(lambda: gitops.get(f"objectdetector/{SAMPLE}")["spec"]["modelUri"] == git_uri, timeout=60,
             message="self-heal to put Git's modelUri back")
    assert gitops.get(f"objectdetector/{SAMPLE}")["spec"]["replicas"] == 3
    gitops.kubectl("-n", DETECTORS_NS, "scale", f"objectdetector/{SAMPLE}", "--replicas=1")
    all_synced_and_healthy(gitops)


def test_a_detector_removed_from_git_is_pruned_with_its_children(gitops: GitOps):
    all_synced_and_healthy(gitops)
    path = f"{DETECTORS_DIR}/short-lived.yaml"
    sha = gitops.commit({path: detector_manifest("short-lived")}, "a second detector")
    gitops.wait_app(DETECTORS_APP, revision=sha)
    assert gitops.exists("deployment/short-lived-detector") and gitops.exists("service/short-lived-detector")
    sha = gitops.commit({path: None}, "remove the second detector")
    gitops.wait_app(DETECTORS_APP, revision=sha)
    wait_for(lambda: not any(gitops.exists(w) for w in ("objectdetector/short-lived", "deployment/short-lived-detector",
                                                         "service/short-lived-detector")),
             timeout=60, message="the detector and its children gone")
    # The operator left the garbage collector alone: no child re-created while the owner went.
    events = gitops.get("events", "--field-selector", "involvedObject.name=short-lived")["items"]
    assert [e["reason"] for e in events if e["reason"] == "DriftRepaired"] == []


def test_the_root_application_is_upstreams_with_only_repo_url_changed(gitops: GitOps):
    upstream = yaml.safe_load((REPO / fork.ROOT_APP).read_text())
    applied = yaml.safe_load(fork.root_application(gitops.git))
    assert applied["spec"]["source"].pop("repoURL") == gitops.argocd.repo_url
    upstream["spec"]["source"].pop("repoURL")
    assert applied == upstream
