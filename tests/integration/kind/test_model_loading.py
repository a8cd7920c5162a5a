"""Loading a model on real pods: a model slow to become ready is protected by the kubelet's startup
probe (sized by spec.server.startupTimeoutSeconds), which keeps liveness from judging it while it
loads and restarts it only once that timeout is spent; a model that cannot load is restarted by
the kubelet, and the ObjectDetector says so in the server's own words."""
from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import pytest

from localprocs import wait_for

from .conftest import Kind, apply_detector, ready_condition
from .disruptions import live_pods
from .test_real_nodes import pod_condition_time, ts

pytestmark = pytest.mark.slow

# Longer than liveness's window (3 failures x 10 s) and readiness's (3 x 5 s): under either, a
# pod judged from its start would be restarted or never trusted.
LOAD_SECONDS = 45


@pytest.fixture(scope="module")
def slow_model_url(kind: Kind) -> str:
    """A Zoo-signature model whose first call after each load (the server's warm-up) takes
    LOAD_SECONDS, on the cluster's model server."""
    from tests.support.zoo_model import build_zoo_savedmodel, make_zoo_tarball

    name = f"slow_{LOAD_SECONDS}s"
    tarball = kind.state / "models" / f"{name}.tar.gz"
    if not tarball.exists():
        with tempfile.TemporaryDirectory() as tmp:
            export = build_zoo_savedmodel(Path(tmp) / "export", first_call_seconds=LOAD_SECONDS)
            make_zoo_tarball(export, Path(tmp) / tarball.name, name=name).replace(tarball)
    return f"{kind.model_base}/{tarball.name}"


def server_status(pod: dict) -> dict:
    return next(c for c in pod["status"]["containerStatuses"] if c["name"] == "server")


def test_a_model_slower_to_load_than_the_liveness_window_is_not_killed(
        kind: Kind, ns: str, slow_model_url: str) -> None:
    apply_detector(ns, "slow", modelUri=slow_model_url)
    wait_for(lambda: ready_condition(ns, "slow").get("status") == "True", timeout=300, interval=1,
             message="Ready")
    pod = live_pods(ns, "slow")[0]
    server = server_status(pod)
    loading = pod_condition_time(pod, "Ready") - ts(server["state"]["running"]["startedAt"])
    print(f"\nSLOW LOAD server start to Ready {loading:.0f} s, restarts {server['restartCount']}")
    assert loading >= LOAD_SECONDS, loading  # it really was slower than liveness's window
    assert server["restartCount"] == 0, server


def test_a_load_longer_than_the_startup_timeout_is_restarted_and_the_status_says_why(
        kind: Kind, ns: str, slow_model_url: str) -> None:
    # The proof that the test above can fail: the same model, a timeout shorter than its load.
    apply_detector(ns, "hung", modelUri=slow_model_url, server={"startupTimeoutSeconds": 20})

    def restarted() -> dict:
        pods = live_pods(ns, "hung")
        return pods and server_status(pods[0]).get("restartCount", 0) >= 1 and pods[0]

    pod = wait_for(restarted, timeout=240, interval=1, message="the server restarted by its startup probe")
    last = server_status(pod)["lastState"]["terminated"]
    ran = ts(last["finishedAt"]) - ts(last["startedAt"])
    print(f"\nSTARTUP TIMEOUT the kubelet ended the server after {ran:.0f} s: {last.get('message', '').strip()}")
    assert ran < LOAD_SECONDS, last  # ended by the probe, not after its load
    # Ended at once (the load is not waited for), with a signal's exit status even as PID 1.
    assert last["exitCode"] == 143 and "while the model was still loading" in last.get("message", ""), last

    # The ObjectDetector says it, in the server's words, without flipping back to Deploying
    # between restarts.
    def crash_looping() -> dict:
        ready = ready_condition(ns, "hung")
        return ready if ready.get("reason") == "ServerCrashLooping" else {}

    ready = wait_for(crash_looping, timeout=120, interval=1, message="Ready=False/ServerCrashLooping")
    assert ready["status"] == "False" and "spec.server.startupTimeoutSeconds" in ready["message"], ready
    assert "exit code 143" in ready["message"], ready


def test_a_model_that_downloads_but_cannot_load_is_server_crash_looping_in_the_servers_words(
        kind: Kind, ns: str) -> None:
    # A tarball the downloader accepts (it holds a saved_model.pb) that TensorFlow cannot read.
    tarball = kind.state / "models" / "corrupt_ssd.tar.gz"
    if not tarball.exists():
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "corrupt_ssd" / "saved_model"
            model.mkdir(parents=True)
            (model / "saved_model.pb").write_bytes(b"this is not a protocol buffer" * 10)
            with tarfile.open(Path(tmp) / tarball.name, "w:gz") as tar:
                tar.add(model.parent, arcname="corrupt_ssd")
            (Path(tmp) / tarball.name).replace(tarball)
    apply_detector(ns, "corrupt", modelUri=f"{kind.model_base}/{tarball.name}")

    def crash_looping() -> dict:
        ready = ready_condition(ns, "corrupt")
        return ready if ready.get("reason") == "ServerCrashLooping" else {}

    ready = wait_for(crash_looping, timeout=240, interval=1, message="Ready=False/ServerCrashLooping")
    pod = live_pods(ns, "corrupt")[0]
    assert server_status(pod)["restartCount"] >= 1, server_status(pod)  # real restarts, by the kubelet
    assert ready["status"] == "False" and "cannot load SavedModel" in ready["message"], ready
    assert "exit code 1" in ready["message"] and ready["message"].count("model load failed") == 1, ready
