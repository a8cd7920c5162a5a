"""The operator installed from deploy/overlays/dev and run under its own ServiceAccount token.

`operator_under_sa` applies the rendered dev overlay to the local control plane, mints a token
for the operator's ServiceAccount, writes a kubeconfig holding only that token, and starts
`python -m detector_operator` as a local process with the Deployment's env settings: the API
server sees exactly the RBAC that deploy/ grants, not admin. `namespaced_operator` does the same
with deploy/overlays/namespaced (a Role in its own namespace).
Deviation from the Deployment: the liveness port is a free local one (8081 may be taken).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.kube import CRD_NAME, REPO, kubectl, token_kubeconfig
from tests.support.operator_process import OperatorProcess

OVERLAY = "deploy/overlays/dev"
NAMESPACED_OVERLAY = "deploy/overlays/namespaced"


@dataclass
class RunningOperator:
    namespace: str          # where deploy/ installed the operator
    kubeconfig: Path        # the ServiceAccount token's kubeconfig
    process: OperatorProcess

    @property
    def log(self) -> Path:
        return self.process.log_path

    def sa_kubectl(self, *args: str, check: bool = True):
        return kubectl("--kubeconfig", str(self.kubeconfig), *args, check=check)

    def log_text(self) -> str:
        return self.process.log_text()


def render(overlay: str) -> list[dict]:
    out = kubectl("kustomize", str(REPO / overlay)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


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


@contextlib.contextmanager
def operator_from(overlay: str, workdir: Path) -> Iterator[RunningOperator]:
    """Install `overlay`, then run the operator locally under its ServiceAccount's token."""
    objects = render(overlay)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(objects))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    namespace = next(o for o in objects if o["kind"] == "Namespace")["metadata"]["name"]
    account = next(o for o in objects if o["kind"] == "ServiceAccount")["metadata"]["name"]
    token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    config = token_kubeconfig(token, workdir / "kubeconfig")
    process = OperatorProcess(workdir, standalone=False, isolated=True, cwd=workdir,
                              env=deployment_env(objects) | {"KUBECONFIG": str(config)})
    try:
        process.start()
        yield RunningOperator(namespace, config, process)
    finally:
        process.stop()
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
