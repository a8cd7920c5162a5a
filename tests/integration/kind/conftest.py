"""One kind cluster for these tests, brought up by deploy/kind/up.sh as a user runs it (operator
in-cluster from deploy/overlays/dev, images built and loaded, a model server on the kind network,
the sample cpu-detector Ready) and taken down by deploy/kind/down.sh.

DETECTOR_KIND_DIR=<a state dir up.sh made> reuses a running cluster instead (not taken down).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localprocs import REPO
from tests.support.kube import condition, kubectl, kubectl_json, restricted_namespace

UP_TIMEOUT = 3600  # cold: node image, images, kind create; warm it takes about 2 min


@dataclass(frozen=True)
class Kind:
    state: Path
    kubeconfig: Path
    model_url: str  # the working sample model on the host's model server
    server_image: str
    up_seconds: float

    @property
    def model_base(self) -> str:
        return self.model_url.rsplit("/", 1)[0]


def host_state() -> dict[str, Any]:
    """What a kind cluster may change on the host and `down` must give back: sysctls, links,
    firewall chains and rules, CNI state (localkind.host's snapshot), routes and the project's
    podman containers."""
    from localimages import engine
    from localkind import host

    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True, check=True).stdout
    containers = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], env=engine.env(),
                                capture_output=True, text=True, check=True).stdout
    return {**host.snapshot(), "routes": sorted(routes.splitlines()), "containers": sorted(containers.split())}


def kind_from_state(state: Path, up_seconds: float = 0.0) -> Kind:
    """The cluster deploy/kind/up.sh made in `state`, read back from it (KUBECONFIG set to it)."""
    deployment = kubectl_json("-n", "detector-operator-dev", "get", "deployment", "detector-operator")
    env_list = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    server_image = next(e["value"] for e in env_list if e["name"] == "DETECTOR_CPU_IMAGE")
    model_url = kubectl_json("-n", "detectors", "get", "od", "cpu-detector")["spec"]["modelUri"]
    return Kind(state, state / "kubeconfig", model_url, server_image, up_seconds)


def _run_script(script: str, env: dict[str, str], log: Path, timeout: float) -> None:
    with open(log, "w") as out:
        done = subprocess.run(["bash", str(REPO / "deploy/kind" / script)], stdout=out, stderr=subprocess.STDOUT,
                              env=env, timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        raise AssertionError(f"deploy/kind/{script} exited {done.returncode} (log {log}):\n{tail}")


# Package scope: in `make test` the cluster (3 node containers, ~3.6 GB) lives only while these
# tests run, not through the rest of the suite.
@pytest.fixture(scope="package")
def kind() -> Iterator[Kind]:
    reuse = os.environ.get("DETECTOR_KIND_DIR")
    if reuse:
        state = Path(reuse).resolve()
        up_seconds = 0.0
    else:
        host_before = host_state()
        state = REPO / ".local" / f"kind-test-{os.getpid()}"
        state.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LOCALKIND_DIR": str(state), "LOCALKIND_NAME": "detector-kind-test",
               "DETECTORS_NAMESPACE": "detectors"}
        started = time.monotonic()
        try:
            _run_script("up.sh", env, REPO / ".local" / f"kind-test-{os.getpid()}-up.log", UP_TIMEOUT)
        except BaseException:
            _run_script("down.sh", env, REPO / ".local" / f"kind-test-{os.getpid()}-down.log", 600)
            raise
        up_seconds = time.monotonic() - started
    # kubectl (tests.support.kube) reads KUBECONFIG: the kind cluster's while these tests run, the
    # session's local control plane again after them (later packages' fixtures hold no copy).
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(state / "kubeconfig")
    try:
        yield kind_from_state(state, up_seconds)
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous
        if not reuse:
            _run_script("down.sh", {**os.environ, "LOCALKIND_DIR": str(state), "LOCALKIND_NAME": "detector-kind-test"},
                        REPO / ".local" / f"kind-test-{os.getpid()}-down.log", 600)
            changed = {k: (v, after[k]) for k, v in host_before.items() if (after := host_state())[k] != v}
            assert not changed, f"deploy/kind/down.sh left the host changed (before, after): {changed}"
            # Both went fine: their logs go too (a failed script's log stays, named in the error).
            for log in ("up", "down"):
                (REPO / ".local" / f"kind-test-{os.getpid()}-{log}.log").unlink(missing_ok=True)


@pytest.fixture
def ns(kind: Kind, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the kind cluster that enforces PodSecurity restricted."""
    yield from restricted_namespace(request, prefix="k", width=30)


def apply_detector(namespace: str, name: str, **spec: Any) -> None:
    # A quarter core each: the two workers have the host's 2 cores each, and a rollout surges a pod
    # (at the default request of 1 core, a 2-replica rollout beside the sample was Unschedulable).
    body = {"apiVersion": "vision.mlops.dev/v1alpha1", "kind": "ObjectDetector",
            "metadata": {"name": name},
            "spec": {"replicas": 1, "hardware": "cpu", "resources": {"requests": {"cpu": "250m"}}, **spec}}
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(body))


def ready_condition(namespace: str, name: str) -> dict[str, Any]:
    return condition(namespace, name) or {}


def jpeg_bytes() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 240), (90, 110, 130))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 100, 130, 210), fill=(200, 40, 40))
    draw.ellipse((180, 60, 280, 160), fill=(240, 220, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


RESTRICTED_CONTAINER = {
    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}},
}
RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                  "seccompProfile": {"type": "RuntimeDefault"}}


def run_client_pod(namespace: str, image: str, script: str, timeout: float = 180) -> str:
    """Runs `python -c script` in a restricted pod on the cluster and returns its log; fails
    with the log when the pod does not succeed."""
    name = f"client-{uuid.uuid4().hex[:6]}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"restartPolicy": "Never", "securityContext": RESTRICTED_POD,
                    "containers": [{"name": "client", "image": image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["python", "-c", script], **RESTRICTED_CONTAINER}]}}
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + timeout
    while True:
        phase = kubectl_json("-n", namespace, "get", "pod", name).get("status", {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"client pod {name} still {phase} after {timeout:.0f}s")
        time.sleep(0.5)
    log = kubectl("-n", namespace, "logs", name).stdout
    kubectl("-n", namespace, "delete", "pod", name, "--wait=false", check=False)
    assert phase == "Succeeded", f"client pod {name} {phase}:\n{log}"
    return log
