"""The label map reaches the server in the pod the operator builds: the downloader and then the
server run with exactly the args and env `builders.deployment()` emits (tests/support/pods.py),
for the label-map URIs users really write."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.support.images import encode, picture
from tests.support.pods import LocalPod, plan, pod_template

PBTXT = 'item { id: 1 display_name: "walker" }\nitem { id: 3 display_name: "wagon" }\n'
JSON = '{"1": "walker", "3": "wagon"}'
# file name served, what it holds, the labelMapUri's path and query
CASES = {
    "pre-signed-json": ("labels.json", JSON, "labels.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=0badc0de"),
    "upper-case-extension": ("LABELS.JSON", JSON, "LABELS.JSON"),
    "pbtxt": ("labels.pbtxt", PBTXT, "labels.pbtxt"),
    "txt-holding-pbtxt": ("labels.txt", PBTXT, "labels.txt"),
}


@pytest.fixture
def files(file_server, zoo_tarball):
    return file_server({"tiny_ssd.tar.gz": zoo_tarball, **{name: text for name, text, _ in CASES.values()}})


def labels_found(pod: LocalPod, model: str) -> set[str]:
    answer = httpx.post(f"{pod.url('http')}/v1/models/{model}:detect?threshold=0", content=encode(picture()),
                        headers={"content-type": "image/png"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {d["label"] for d in answer.json()["detections"]}


def run_pod(spec: dict, workdir, **volumes) -> LocalPod:
    # No traffic to move away when these pods stop: no drain delay (10 s each otherwise; the ending
    # itself is test_server_graceful_shutdown.py's).
    spec = {**spec, "server": {"drainDelaySeconds": 0}}
    pod = LocalPod(plan(pod_template(spec, name="cams")), workdir, volume_dirs=volumes)
    for init in pod.run_init():
        assert init.exit_code == 0, f"{init.name}: {init.output[-2000:]}"
    return pod.start()


@pytest.mark.parametrize("case", CASES)
def test_a_downloaded_label_map_names_the_detections(case, files, tmp_path):
    _, _, path = CASES[case]
    spec = {"modelUri": f"{files.url}/tiny_ssd.tar.gz", "labelMapUri": f"{files.url}/{path}"}
    pod = run_pod(spec, tmp_path / "pod")
    try:
        found = labels_found(pod.wait_ready(120), "cams")
    finally:
        pod.stop()
    assert {"walker", "wagon"} & found and "person" not in found  # the map's names, not COCO's


def test_a_pvc_model_with_a_label_map_names_the_detections(files, tmp_path, zoo_model_dir):
    claim = tmp_path / "claim"
    shutil.copytree(zoo_model_dir, claim / "zoo" / "tiny")
    spec = {"modelUri": "pvc://models/zoo/tiny", "labelMapUri": f"{files.url}/labels.txt"}
    pod = run_pod(spec, tmp_path / "pod", model=claim)
    try:
        found = labels_found(pod.wait_ready(120), "cams")
    finally:
        pod.stop()
    assert {"walker", "wagon"} & found and "person" not in found
