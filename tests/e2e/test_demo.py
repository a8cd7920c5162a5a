"""The README's main job, run exactly as a new user runs it (`make demo` = hack/demo.sh).

The demo brings up a kind cluster (deploy/kind/up.sh) under its own name and state dir here; only one
kind cluster fits on this machine, and the kind tests' package fixture starts theirs only after this
module has finished (one pytest process, tests in order), so this test takes its cluster down first.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from detector_operator.builders import selector_string
from localprocs import REPO

pytestmark = pytest.mark.cluster
KIND_NAME = "detector-kind-e2e"


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The demo in the test's own directories, so it runs beside a developer's own demo."""
    env = {**os.environ, "LOCALCLUSTER_DIR": str(tmp_path / "cluster"), "DEMO_DIR": str(tmp_path / "demo"),
           "LOCALARGOCD_DIR": str(tmp_path / "argocd"), "LOCALKIND_DIR": str(tmp_path / "kind"),
           "LOCALKIND_NAME": KIND_NAME, **extra}
    env.pop("KUBECONFIG", None)
    for own in ("DEMO_SERVER_PORT", "DETECTOR_LIVENESS_PORT", "DETECTORS_NAMESPACE"):
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
    assert f"port {port} for the detector's port-forward (HTTP) is taken by another process" in run.stderr
    assert not (tmp_path / "cluster").exists() and not (tmp_path / "kind").exists()


def kind_status(tmp_path: Path) -> str:
    """localkind's own answer (it asks kind, with the provider's environment localkind uses)."""
    return subprocess.run([str(REPO / ".venv/bin/python"), "-m", "localkind", "status", "--dir", str(tmp_path / "kind"),
                           "--name", KIND_NAME], cwd=REPO, capture_output=True, text=True, check=True,
                          timeout=120).stdout


def test_demo_answers_from_the_detectors_own_pod_on_kind_and_places_gpus_on_simulated_nodes(tmp_path):
    env = demo_env(tmp_path)
    try:
        run = subprocess.run(["bash", "hack/demo.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=3600)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        out = run.stdout
        # Real part: cpu-detector applied with kubectl on kind, its pod on a kind worker, Ready.
        kind_env = {**env, "KUBECONFIG": str(tmp_path / "kind" / "kubeconfig")}
        pods = json.loads(subprocess.run(
            ["kubectl", "-n", "demo", "get", "pods", "-l", selector_string("cpu-detector"), "-o", "json"],
            env=kind_env, capture_output=True, text=True, check=True, timeout=60).stdout)["items"]
        assert pods and all(p["spec"]["nodeName"].startswith(f"{KIND_NAME}-worker") for p in pods), \
            [p["spec"].get("nodeName") for p in pods]
        od = json.loads(subprocess.run(["kubectl", "-n", "demo", "get", "od", "cpu-detector", "-o", "json"],
                                       env=kind_env, capture_output=True, text=True, check=True, timeout=60).stdout)
        ready = next(c for c in od["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ready
        # The answer came through the port-forward from that pod: the server there serves the model
        # under the detector's name (a server beside the cluster would not), and the model is the one
        # the demo's model server really serves on the kind network.
        answer = json.loads((tmp_path / "demo" / "detections.json").read_text())
        assert answer["model"] == "cpu-detector" and answer["image"] == {"width": 640, "height": 480}
        assert answer["detections"], "the tiny model finds boxes in the demo picture"
        scores = [d["score"] for d in answer["detections"]]
        assert scores == sorted(scores, reverse=True) and min(scores) >= 0.3
        served = (tmp_path / "kind" / "model-server.port").read_text().strip()
        assert od["spec"]["modelUri"].endswith(f":{served}/tiny_ssd.tar.gz"), od["spec"]["modelUri"]
        port = (tmp_path / "demo" / "port-forward.port").read_text().strip()
        assert f"kubectl port-forward svc/cpu-detector-detector {port}:8080" in out
        # Simulated part: GPU placement on kwok GPU nodes, said to be simulated where it shows Serving.
        simulated = out[out.index("SIMULATED: GPU placement"):out.index("SIMULATED NODES, real Argo CD")]
        for name, node in (("gpu-l4-detector", "gpu-l4-1"), ("gpu-a100-detector", "gpu-a100-1")):
            assert f"objectdetector.vision.mlops.dev/{name} condition met" in simulated
            assert any(line.split()[:1] == [name] and "Serving" in line and line.split()[-1] == "kwok"
                       for line in simulated.splitlines()), name
            assert node in simulated
        # Nothing shows Serving for a sample outside a part headed simulated, but the real detector.
        real = out[:out.index("SIMULATED")]
        assert all("Serving" not in line or line.split()[:1] == ["cpu-detector"] for line in real.splitlines())
        # The GitOps part: Argo CD delivered the tree from the local git repository.
        gitops = out[out.index("SIMULATED NODES, real Argo CD"):]
        for app in ("detector-operator-root", "detector-operator", "object-detectors"):
            assert any(line.split()[:3] == [app, "Synced", "Healthy"] for line in gitops.splitlines()), app
        assert any(line.split()[:1] == ["ssd-mobilenet"] and "Serving" in line for line in gitops.splitlines())
    finally:
        subprocess.run(["bash", "hack/demo-down.sh"], cwd=REPO, env=env, capture_output=True, timeout=900)
    assert not (tmp_path / "cluster").exists() and not (tmp_path / "argocd").exists()
    assert f"kind cluster {KIND_NAME}: not running" in kind_status(tmp_path), "demo-down left the kind cluster"
    for pidfile in (tmp_path / "demo").glob("*.pid"):
        pytest.fail(f"demo-down left {pidfile.name}")
