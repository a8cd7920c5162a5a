"""The README's main job, run exactly as a new user runs it (`make demo` = hack/demo.sh)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from localprocs import free_port

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def test_demo_brings_up_cluster_operator_ready_samples_and_answers_a_detection(tmp_path):
    env = {**os.environ, "LOCALCLUSTER_DIR": str(tmp_path / "cluster"), "DEMO_DIR": str(tmp_path / "demo"),
           "DEMO_SERVER_PORT": str(free_port()), "DEMO_MODEL_PORT": str(free_port()),
           "DETECTOR_LIVENESS_PORT": str(free_port())}
    env.pop("KUBECONFIG", None)
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
    finally:
        subprocess.run(["bash", "hack/demo-down.sh"], cwd=REPO, env=env, capture_output=True, timeout=120)
    assert not (tmp_path / "cluster").exists()
    for pidfile in (tmp_path / "demo").glob("*.pid"):
        pytest.fail(f"demo-down left {pidfile.name}")
