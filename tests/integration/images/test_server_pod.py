"""The server pod exactly as the builders write it, run by podman under its own restrictions:
init container, then the server, answering like the same model served as a local process."""
from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.images import encode, picture
from tests.support.podman_pod import InitExit, PodmanPod
from tests.support.pods import plan
from tests.support.server_process import ServerProcess

from .conftest import ZOO

pytestmark = pytest.mark.slow
JPEG = encode(picture(seed=7), "JPEG")


@dataclass
class RunningPod:
    pod: PodmanPod
    init: list[InitExit]
    start_to_ready: float


@pytest.fixture(scope="module")
def server_pod(server_pods, tmp_path_factory) -> Iterator[RunningPod]:
    pod = PodmanPod(plan(server_pods.template(ZOO)), tmp_path_factory.mktemp("server-pod"), name="server")
    try:
        init = pod.run_init()
        started = time.monotonic()
        pod.start().wait_ready(timeout=300)
        yield RunningPod(pod, init, time.monotonic() - started)
    finally:
        pod.remove()


@pytest.fixture(scope="module")
def local_server(zoo_model_dir, server_pod, tmp_path_factory) -> Iterator[ServerProcess]:
    """The same model and settings as a local process (the pod's env names the model)."""
    name = server_pod.pod.pod.containers[0].env["DETECTOR_MODEL_NAME"]
    server = ServerProcess(str(zoo_model_dir), "--model-name", name, log_dir=tmp_path_factory.mktemp("local-server"))
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def detect(base_url: str, name: str) -> list[dict]:
    response = httpx.post(f"{base_url}/v1/models/{name}:detect", content=JPEG,
                          headers={"content-type": "image/jpeg"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["detections"]


def test_init_container_downloads_the_model_and_exits_0(server_pod):
    (init,) = server_pod.init
    assert init.name == "fetch-model" and init.exit_code == 0, init.output
    assert (server_pod.pod.dirs["model"] / "model" / "saved_model.pb").is_file()


def test_server_pod_detects_what_the_same_model_detects_as_a_local_process(server_pod, local_server):
    name = server_pod.pod.pod.containers[0].env["DETECTOR_MODEL_NAME"]
    in_pod, local = detect(server_pod.pod.url("http"), name), detect(local_server.url, name)
    assert in_pod, "the tiny model finds boxes in this picture"
    assert [d["label"] for d in in_pod] == [d["label"] for d in local]
    for a, b in zip(in_pod, local, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
        assert a["box"] == pytest.approx(b["box"], abs=1e-4)


def test_metrics_answer_and_count_requests(server_pod):
    url = server_pod.pod.url("http")
    httpx.get(f"{url}/v2/health/ready", timeout=10)
    metrics = httpx.get(f"{url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert 'detector_requests_total{code="200",endpoint="/v2/health/ready",method="GET"}' in metrics.text


def proc_status(pod: PodmanPod) -> dict[str, str]:
    """/proc/1/status of the server process itself (PID 1 of its container)."""
    done = pod.exec("server", "cat", "/proc/1/status")
    assert done.returncode == 0, done.stderr
    return dict(line.split(":\t", 1) for line in done.stdout.splitlines() if ":\t" in line)


def test_server_runs_as_65532_with_no_capability_no_new_privileges_and_seccomp(server_pod):
    status = proc_status(server_pod.pod)
    assert status["Uid"].split() == ["65532"] * 4 and status["Gid"].split() == ["65532"] * 4
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, f"{caps} {status[caps]}"
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"  # a filter: podman's default profile (RuntimeDefault)


# Walks the whole filesystem inside the container and tries to create a file in every directory
# and to open every regular file for writing. Prints the paths where either worked.
WRITE_PROBE = r"""
import os, stat
writable = []
for top, dirs, files in os.walk("/", onerror=None):
    if top.startswith(("/proc", "/sys")):
        dirs[:] = []
        continue
    try:
        fd = os.open(os.path.join(top, ".write-probe"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(os.path.join(top, ".write-probe"))
        writable.append(top)
    except OSError:
        pass
    for name in files:
        path = os.path.join(top, name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
            writable.append(path)
        except OSError:
            pass
print("\n".join(writable))
"""


def test_every_path_but_the_declared_volumes_refuses_writes(server_pod):
    done = server_pod.pod.exec("server", "python", "-c", WRITE_PROBE, timeout=300)
    assert done.returncode == 0, done.stderr
    writable = set(done.stdout.split())
    declared = {m.path for m in server_pod.pod.pod.containers[0].mounts if not m.read_only}
    assert declared == {"/tmp"}
    outside = {p for p in writable if not any(p == d or p.startswith(d + "/") for d in declared)}
    # What every pod has: the termination log the kubelet provides, and the 1777 /dev/shm (tmpfs)
    # and /dev/mqueue of the OCI default spec, which containerd gives a pod's containers too.
    assert outside == {"/dev/termination-log", "/dev/shm", "/dev/mqueue"}, sorted(outside)
    assert "/tmp" in writable


def test_without_the_tmp_emptydir_the_server_does_not_start(server_pods, tmp_path):
    """The harness can fail: the same pod without the server's /tmp volume dies at start-up."""
    template = copy.deepcopy(server_pods.template(ZOO))
    server = template["spec"]["containers"][0]
    server["volumeMounts"] = [m for m in server["volumeMounts"] if m["mountPath"] != "/tmp"]
    with PodmanPod(plan(template), tmp_path, name="no-tmp") as pod:
        (init,) = pod.run_init()
        assert init.exit_code == 0, init.output
        pod.start()
        assert pod.wait_exited("server", timeout=180) != 0
        assert "No usable temporary directory found" in pod.logs("server")
