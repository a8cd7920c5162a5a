"""kwok's simulated kubelet failures that operator tests rely on, and the cluster tool's lifecycle."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localprocs import REPO, wait_for
from tests.support.kube import kubectl, kubectl_json

pytestmark = pytest.mark.cluster
SECURITY = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 1000,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def apply_pod(namespace: str, name: str, simulate: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/simulate": simulate,
                                                      "kwok.x-k8s.io/simulate-message": "model not found"}},
           "spec": {"initContainers": [{"name": "fetch", "image": "registry.invalid/x:1", "securityContext": SECURITY}],
                    "containers": [{"name": "server", "image": "registry.invalid/x:1", "securityContext": SECURITY}]}}
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(pod))


def status_of(namespace: str, name: str) -> dict:
    return kubectl_json("-n", namespace, "get", "pod", name)["status"]


def test_init_crashloop_simulation_shows_termination_message(namespace):
    apply_pod(namespace, "p", "init-crashloop")
    statuses = wait_for(lambda: status_of(namespace, "p").get("initContainerStatuses"), timeout=30,
                        message="init container statuses")
    assert statuses[0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert statuses[0]["lastState"]["terminated"]["message"] == "model not found"
    assert status_of(namespace, "p")["phase"] == "Pending"


def test_server_crashloop_and_unready_simulations(namespace):
    apply_pod(namespace, "crash", "server-crashloop")
    apply_pod(namespace, "slow", "unready")
    crash = wait_for(lambda: status_of(namespace, "crash").get("containerStatuses"), timeout=30, message="crash")
    assert crash[0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    slow = wait_for(lambda: status_of(namespace, "slow").get("containerStatuses"), timeout=30, message="slow")
    assert "running" in slow[0]["state"] and slow[0]["ready"] is False
    assert status_of(namespace, "slow")["phase"] == "Running"


def _cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localcluster", *args, "--dir", str(state_dir)],
                          capture_output=True, text=True, timeout=180, cwd=REPO)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_cluster_up_is_idempotent_and_down_stops_exactly_its_processes(kubeconfig, tmp_path):
    state_dir = tmp_path / "cluster"
    first = _cli("up", state_dir=state_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    pids = json.loads((state_dir / "state.json").read_text())["pids"]
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

    # A second `up` finds it running and starts nothing: said so, same processes (not timed: a
    # loaded machine makes even a no-op slow, and a restart would show in the PIDs).
    again = _cli("up", state_dir=state_dir)
    assert again.returncode == 0 and "already running" in again.stdout
    assert json.loads((state_dir / "state.json").read_text())["pids"] == pids

    status = _cli("status", state_dir=state_dir)
    assert "kube-apiserver" in status.stdout and "running" in status.stdout and "(ready)" in status.stdout

    down = _cli("down", state_dir=state_dir)
    assert down.returncode == 0
    wait_for(lambda: not any(_alive(p) for p in pids.values()), timeout=30, message="all components to stop")
    assert not state_dir.exists()
    # The session's own cluster is untouched.
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
