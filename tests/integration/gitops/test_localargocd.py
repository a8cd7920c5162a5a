"""`python -m localargocd`: up is idempotent, status tells what runs, the git server serves the
fork, and down stops exactly the processes of its own state directory."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from localprocs import alive, wait_for
from tests.support.kube import REPO

pytestmark = pytest.mark.cluster
COMPONENTS = {"redis", "git-daemon", "repo-server", "application-controller"}


def _cli(*args: str, state_dir: Path, kubeconfig: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localargocd", *args, "--dir", str(state_dir),
                           "--kubeconfig", kubeconfig], capture_output=True, text=True, timeout=180, cwd=REPO)


def _pids(state_dir: Path) -> dict[str, int]:
    return json.loads((state_dir / "state.json").read_text())["pids"]


def test_argocd_up_is_idempotent_and_down_stops_exactly_its_processes(kubeconfig, tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    for state_dir in (one, other):
        up = _cli("up", state_dir=state_dir, kubeconfig=kubeconfig)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "published deploy/ and crds/" in up.stdout
    pids = _pids(one)
    assert set(pids) == COMPONENTS and all(alive(p) for p in pids.values())

    # Said so and started nothing (not timed: a loaded machine makes even a no-op slow).
    again = _cli("up", state_dir=one, kubeconfig=kubeconfig)
    assert again.returncode == 0 and "already running" in again.stdout
    assert _pids(one) == pids

    status = _cli("status", state_dir=one, kubeconfig=kubeconfig).stdout
    assert all(f"{name}" in status for name in COMPONENTS) and "stopped" not in status
    url = next(line.split()[-1] for line in status.splitlines() if line.startswith("git repository:"))
    heads = subprocess.run(["git", "ls-remote", url], capture_output=True, text=True, timeout=30, check=True).stdout
    assert "refs/heads/main" in heads
    root_app = _cli("root-app", state_dir=one, kubeconfig=kubeconfig).stdout
    assert f"repoURL: {url}" in root_app

    down = _cli("down", state_dir=one, kubeconfig=kubeconfig)
    assert down.returncode == 0
    wait_for(lambda: not any(alive(p) for p in pids.values()), timeout=30, message="every process of `one` stopped")
    assert not one.exists()
    assert all(alive(p) for p in _pids(other).values()), "the other Argo CD keeps running"
    _cli("down", state_dir=other, kubeconfig=kubeconfig)
    assert not other.exists()
