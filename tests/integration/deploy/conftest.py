"""The operator installed from deploy/overlays/dev and run under its own ServiceAccount token.

`operator_under_sa` applies the rendered dev overlay to the local control plane, mints a token
for the operator's ServiceAccount, writes a kubeconfig holding only that token, and starts
`python -m detector_operator` as a local process with the Deployment's env settings: the API
server sees exactly the RBAC that deploy/ grants, not admin. `namespaced_operator` does the same
with deploy/overlays/namespaced (a Role in its own namespace).
Deviation from the Deployment: the liveness port is a free local one (8081 may be taken).
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.cluster_support import kubectl, kubectl_json, wait_for

REPO = Path(__file__).resolve().parents[3]
OVERLAY = "deploy/overlays/dev"
NAMESPACED_OVERLAY = "deploy/overlays/namespaced"
CRD = "objectdetectors.vision.mlops.dev"


@dataclass
class RunningOperator:
    namespace: str          # where deploy/ installed the operator
    kubeconfig: Path        # the ServiceAccount token's kubeconfig
    log: Path
    process: subprocess.Popen

    def sa_kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return kubectl("--kubeconfig", str(self.kubeconfig), *args, check=check)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def render(overlay: str) -> list[dict]:
    out = kubectl("kustomize", str(REPO / overlay)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_kubeconfig(token: str, path: Path) -> Path:
    """A kubeconfig with the admin kubeconfig's server and CA, but only `token` as credentials."""
    admin = kubectl_json("config", "view", "--raw", "--minify")
    cluster = admin["clusters"][0]["cluster"]
    ca = cluster.get("certificate-authority-data") or base64.b64encode(
        Path(cluster["certificate-authority"]).read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "local", "cluster": {"server": cluster["server"],
                                                   "certificate-authority-data": ca}}],
        "users": [{"name": "operator-sa", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator-sa"}}],
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def deployment_env(objects: list[dict]) -> dict[str, str]:
    """The operator container's env as the Deployment sets it (downward-API values resolved)."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = f"local-test-operator-{os.getpid()}"
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[item["name"]] = deployment["metadata"]["namespace"]
        else:
            raise AssertionError(f"unhandled env source for {item['name']}: {item}")
    return env


def healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as rsp:
            return rsp.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def operator_from(overlay: str, workdir: Path) -> Iterator[RunningOperator]:
    """Install `overlay`, then run the operator locally under its ServiceAccount's token."""
    objects = render(overlay)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(objects))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD}", "--timeout=60s")
    namespace = next(o for o in objects if o["kind"] == "Namespace")["metadata"]["name"]
    account = next(o for o in objects if o["kind"] == "ServiceAccount")["metadata"]["name"]
    token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    config = token_kubeconfig(token, workdir / "kubeconfig")

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETECTOR_")}
    env |= deployment_env(objects) | {"KUBECONFIG": str(config), "DETECTOR_LIVENESS_PORT": str(port)}
    log = workdir / "operator.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "detector_operator"], cwd=workdir, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = RunningOperator(namespace, config, log, process)
    try:
        wait_for(lambda: process.poll() is None and healthz(port), timeout=60,
                 message=f"the operator's /healthz (log: {log})")
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # Everything the overlay created except the CRDs: deleting those would take every
        # ObjectDetector in the cluster with them.
        # Waited for: the next test may install an overlay into the same namespace.
        kubectl("delete", "namespace", namespace, "--ignore-not-found", "--timeout=90s",
                check=False, timeout=100)
        for kind in ("clusterrolebinding", "clusterrole"):
            kubectl("delete", kind, "detector-operator", "--ignore-not-found", check=False)


# Module scope: one operator at a time, so a cluster-wide one never races a namespaced one.
@pytest.fixture(scope="module")
def operator_under_sa(kubeconfig: str, tmp_path_factory: pytest.TempPathFactory):
    with operator_from(OVERLAY, tmp_path_factory.mktemp("operator-under-sa")) as running:
        yield running


@pytest.fixture(scope="module")
def namespaced_operator(kubeconfig: str, tmp_path_factory: pytest.TempPathFactory):
    with operator_from(NAMESPACED_OVERLAY, tmp_path_factory.mktemp("namespaced-operator")) as running:
        yield running


def rbac_denials(log: str) -> list[str]:
    """Log lines where the API server refused the operator for lack of RBAC."""
    return [line for line in log.splitlines()
            if 'forbidden: User "system:serviceaccount:' in line or "Not enough permissions" in line]


def ready_condition(obj: dict) -> dict | None:
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition["type"] == "Ready":
            return condition
    return None


def wait_detector_ready(namespace: str, name: str, *, timeout: float, log: Path) -> dict:
    """Polls until the ObjectDetector is Ready=True and returns it; the operator log is named on failure."""
    def ready() -> dict | None:
        obj = kubectl_json("get", "objectdetector", name, "-n", namespace)
        condition = ready_condition(obj)
        return obj if condition and condition["status"] == "True" else None

    return wait_for(ready, timeout=timeout, message=f"{name} Ready (operator log: {log})")
