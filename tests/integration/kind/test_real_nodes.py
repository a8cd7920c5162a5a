"""Real pods on real nodes: the operator, in-cluster under its own ServiceAccount, makes pods that a
real kubelet runs, probes and reports; clients reach them through the Service by its DNS name."""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections import Counter
from datetime import datetime

import pytest

from detector_operator.builders import DETECTOR_LABEL
from localprocs import wait_for
from tests.support.kube import kubectl, kubectl_json

from .conftest import (
    Kind,
    apply_detector,
    jpeg_bytes,
    ready_condition,
    run_client_pod,
)

pytestmark = pytest.mark.slow

DETECT_CLIENT = """
import io, json, urllib.request
from PIL import Image
buf = io.BytesIO(); Image.new("RGB", (320, 240), (200, 40, 40)).save(buf, "JPEG")
req = urllib.request.Request("{url}/v1/models/{model}:detect?threshold=0", data=buf.getvalue(),
                             headers={{"Content-Type": "image/jpeg"}})
with urllib.request.urlopen(req, timeout=30) as resp:
    print(json.dumps({{"status": resp.status, "body": json.load(resp)}}))
"""


class PortForward:
    """`kubectl port-forward svc/<service> :8080` (real kubelet streaming); .port on 127.0.0.1."""

    def __init__(self, namespace: str, service: str) -> None:
        self.proc = subprocess.Popen(["kubectl", "-n", namespace, "port-forward", f"svc/{service}", ":8080"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not found:
            self.close()
            raise AssertionError(f"kubectl port-forward said {line!r}")
        self.port = int(found.group(1))

    def close(self) -> None:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        self.errors = err

    def __enter__(self) -> PortForward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pods_of(namespace: str, name: str) -> list[dict]:
    return kubectl_json("-n", namespace, "get", "pods", "-l", f"{DETECTOR_LABEL}={name}")["items"]


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()  # 3.11 reads the trailing Z


def pod_condition_time(pod: dict, kind: str) -> float:
    return ts(next(c["lastTransitionTime"] for c in pod["status"]["conditions"] if c["type"] == kind))


def test_detector_is_ready_only_once_its_pod_serves_and_answers_at_its_status_url(kind: Kind, ns: str) -> None:
    applied = time.time()
    apply_detector(ns, "d", modelUri=kind.model_url)
    early = []  # (seconds, Ready status) read while no pod was ready
    deadline = time.monotonic() + 300
    while True:
        ready = ready_condition(ns, "d")
        pods = pods_of(ns, "d")  # read after the detector: a pod never turns unready in between
        pod_ready = any(c["type"] == "Ready" and c["status"] == "True"
                        for p in pods for c in p["status"].get("conditions") or [])
        if not pod_ready:
            early.append((round(time.time() - applied, 1), ready.get("status")))
        if ready.get("status") == "True":
            break
        assert time.monotonic() < deadline, f"not Ready after 300 s: {ready}"
        time.sleep(0.3)
    became_ready = time.time() - applied
    assert early, "the detector was never seen before its pod was ready"
    assert all(status != "True" for _, status in early), early
    assert ready["reason"] == "Serving"

    # Where the time went, from the pod's own timestamps (whole seconds).
    pod = pods[0]
    init = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
    server = pod["status"]["containerStatuses"][0]
    split = {
        "scheduled": pod_condition_time(pod, "PodScheduled") - ts(pod["metadata"]["creationTimestamp"]),
        "sandbox+image": ts(init["startedAt"]) - pod_condition_time(pod, "PodScheduled"),
        "download": ts(init["finishedAt"]) - ts(init["startedAt"]),
        "server start (TF load, warm-up) to ready":
            pod_condition_time(pod, "Ready") - ts(server["state"]["running"]["startedAt"]),
        "applied->Ready=True (client-side)": became_ready,
    }
    print("\nREADY SPLIT " + json.dumps({k: round(v, 1) for k, v in split.items()}))

    # A client pod in the cluster resolves status.url's DNS name and gets detections.
    url = kubectl_json("-n", ns, "get", "od", "d")["status"]["url"]
    assert url.startswith(f"http://d-detector.{ns}.svc.cluster.local"), url
    said = run_client_pod(ns, kind.server_image, DETECT_CLIENT.format(url=url, model="d"))
    answer = json.loads(said.splitlines()[-1])
    assert answer["status"] == 200 and answer["body"]["model"] == "d"
    assert isinstance(answer["body"]["detections"], list) and answer["body"]["detections"], answer


def test_port_forward_from_the_host_reaches_the_detector(kind: Kind) -> None:
    with PortForward("detectors", "cpu-detector-detector") as forward:
        req = urllib.request.Request(f"http://127.0.0.1:{forward.port}/v1/models/cpu-detector:detect?threshold=0",
                                     data=jpeg_bytes(), headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = json.load(resp)
            status = resp.status
    assert status == 200 and body["model"] == "cpu-detector" and body["detections"], body


def test_a_404_model_is_model_load_failed_with_the_downloaders_own_line_once(kind: Kind, ns: str) -> None:
    apply_detector(ns, "missing", modelUri=f"{kind.model_base}/no-such-model.tar.gz")

    def failed() -> dict:
        ready = ready_condition(ns, "missing")
        return ready if ready.get("reason") == "ModelLoadFailed" else {}

    ready = wait_for(failed, timeout=180, interval=1, message="ModelLoadFailed")
    assert ready["status"] == "False"
    assert ready["message"].count("model download failed") == 1, ready["message"]
    assert "404" in ready["message"], ready["message"]


def test_an_image_that_does_not_exist_is_deploying_and_names_the_pull_error(kind: Kind, ns: str) -> None:
    # The server image's own repository with a tag nobody pushed: an image the operator's tenancy
    # settings allow (its registries), which the node cannot pull.
    missing = kind.server_image.rsplit(":", 1)[0] + ":no-such-tag"
    apply_detector(ns, "noimage", modelUri=kind.model_url, image=missing)

    def pull_error() -> dict:
        ready = ready_condition(ns, "noimage")
        return ready if re.search(r"ErrImagePull|ImagePullBackOff", ready.get("message", "")) else {}

    ready = wait_for(pull_error, timeout=180, interval=1, message="an image pull error in the status")
    assert (ready["status"], ready["reason"]) == ("False", "Deploying"), ready


def test_pod_security_restricted_is_enforced_and_the_server_runs_restricted(kind: Kind) -> None:
    labels = kubectl_json("get", "namespace", "detectors")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # The namespace refuses a privileged pod (the admission is real, not assumed).
    refused = kubectl("-n", "detectors", "run", "priv", "--image", kind.server_image, "--restart=Never",
                      "--overrides", json.dumps({"spec": {"containers": [{
                          "name": "priv", "image": kind.server_image, "securityContext": {"privileged": True}}]}}),
                      check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
    pod = pods_of("detectors", "cpu-detector")[0]["metadata"]["name"]
    out = kubectl("-n", "detectors", "exec", pod, "-c", "server", "--", "sh", "-c",
                  "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
                  "touch /probe 2>&1 || true; touch /tmp/probe && echo tmp-writable").stdout
    assert out.splitlines()[0] == "65532", out
    assert re.search(r"CapEff:\s+0+\n", out) and re.search(r"NoNewPrivs:\s+1", out), out
    assert "Read-only file system" in out and "tmp-writable" in out, out


def test_scale_to_three_spreads_serving_pods_over_the_workers(kind: Kind) -> None:
    kubectl("-n", "detectors", "scale", "od/cpu-detector", "--replicas=3")
    try:
        def three_ready() -> list[dict]:
            pods = [p for p in pods_of("detectors", "cpu-detector") if not p["metadata"].get("deletionTimestamp")]
            ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p["status"].get("conditions") or [])]
            return ready if len(ready) == 3 else []

        pods = wait_for(three_ready, timeout=300, interval=1, message="3 ready pods")
        nodes = Counter(p["spec"]["nodeName"] for p in pods)
        assert len(nodes) == 2 and all("worker" in n for n in nodes), nodes
        wait_for(lambda: kubectl_json("-n", "detectors", "get", "od", "cpu-detector")["status"].get(
            "readyReplicas") == 3, timeout=60, message="status.readyReplicas 3")
    finally:
        kubectl("-n", "detectors", "scale", "od/cpu-detector", "--replicas=1")
    wait_for(lambda: len([p for p in pods_of("detectors", "cpu-detector")
                          if not p["metadata"].get("deletionTimestamp")]) == 1,
             timeout=120, interval=1, message="back to 1 pod")


def test_operator_pod_deleted_a_new_one_takes_over_without_duplicates(kind: Kind, ns: str) -> None:
    apply_detector(ns, "peer", modelUri=kind.model_url)
    wait_for(lambda: ready_condition(ns, "peer").get("status") == "True", timeout=300, interval=1, message="Ready")
    selector = "app.kubernetes.io/name=detector-operator"
    old = kubectl_json("-n", "detector-operator-dev", "get", "pods", "-l", selector)["items"]
    assert len(old) == 1
    kubectl("-n", "detector-operator-dev", "delete", "pod", old[0]["metadata"]["name"], "--wait=false")

    def new_operator_ready() -> bool:
        pods = kubectl_json("-n", "detector-operator-dev", "get", "pods", "-l", selector)["items"]
        return any(p["metadata"]["uid"] != old[0]["metadata"]["uid"] and not p["metadata"].get("deletionTimestamp")
                   and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
                   for p in pods)

    wait_for(new_operator_ready, timeout=180, interval=1, message="a new operator pod Ready")
    # The new operator works: a scale is reconciled and reported.
    kubectl("-n", ns, "scale", "od/peer", "--replicas=2")
    wait_for(lambda: kubectl_json("-n", ns, "get", "od", "peer")["status"].get("readyReplicas") == 2,
             timeout=300, interval=1, message="readyReplicas 2 reported by the new operator")
    deployments = kubectl_json("-n", ns, "get", "deployments")["items"]
    services = kubectl_json("-n", ns, "get", "services")["items"]
    assert [d["metadata"]["name"] for d in deployments] == ["peer-detector"]
    assert [s["metadata"]["name"] for s in services] == ["peer-detector"]
    assert ready_condition(ns, "peer")["status"] == "True"
