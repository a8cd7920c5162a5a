"""The README's main job, run exactly as a new user runs it (`make demo` = hack/demo.sh)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from localprocs import REPO

pytestmark = pytest.mark.cluster


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The demo in the test's own directories, so it runs beside a developer's own demo."""
    env = {**os.environ, "LOCALCLUSTER_DIR": str(tmp_path / "cluster"), "DEMO_DIR": str(tmp_path / "demo"),
           "LOCALARGOCD_DIR": str(tmp_path / "argocd"), **extra}
    env.pop("KUBECONFIG", None)
    for own in ("DEMO_SERVER_PORT", "DEMO_MODEL_PORT", "DEMO_GRPC_PORT", "DETECTOR_LIVENESS_PORT"):
        if own not in extra:
            env.pop(own, None)  # the demo picks free ones
    return env


def test_a_taken_port_stops_the_demo_before_it_starts_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(["bash", "hack/demo.sh"], cwd=REPO, env=demo_env(tmp_path, DEMO_SERVER_PORT=str(port)),
                             capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert f"port {port} for the inference server (HTTP) is taken by another process" in run.stderr
    assert not (tmp_path / "cluster").exists()


def test_demo_brings_up_cluster_operator_ready_samples_and_answers_a_detection(tmp_path):
    env = demo_env(tmp_path)
    try:
        run = subprocess.run(["bash", "hack/demo.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        out = run.stdout
        for name in ("cpu-detector", "gpu-l4-detector", "gpu-a100-detector"):
            assert f"objectdetector.vision.mlops.dev/{name} condition met" in out
        # kubectl get od shows them serving, with the GPU ones on GPU nodes.
        assert out.count("Serving") >= 3
        assert "gpu-l4-1" in out and "gpu-a100-1" in out
        answer = json.loads((tmp_path / "demo" / "detections.json").read_text())
        assert answer["model"] == "tiny-ssd" and answer["image"] == {"width": 640, "height": 480}
        assert answer["detections"], "the tiny model finds boxes in the demo picture"
        scores = [d["score"] for d in answer["detections"]]
        assert scores == sorted(scores, reverse=True) and min(scores) >= 0.3
        # The GitOps part: Argo CD delivered the tree from the local git repository.
        gitops = out[out.index("GitOps: a real Argo CD"):]
        for app in ("detector-operator-root", "detector-operator", "object-detectors"):
            assert any(line.split()[:3] == [app, "Synced", "Healthy"] for line in gitops.splitlines()), app
        assert any(line.split()[:1] == ["ssd-mobilenet"] and "Serving" in line for line in gitops.splitlines())
    finally:
        subprocess.run(["bash", "hack/demo-down.sh"], cwd=REPO, env=env, capture_output=True, timeout=120)
    assert not (tmp_path / "cluster").exists() and not (tmp_path / "argocd").exists()
    for pidfile in (tmp_path / "demo").glob("*.pid"):
        pytest.fail(f"demo-down left {pidfile.name}")
