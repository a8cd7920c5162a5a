"""The init container from the builders, in the server image, downloading from a local HTTP server:
a Zoo archive lands where the server expects it, and unsafe or missing archives fail with the
one-line reason the operator shows as ModelLoadFailed."""
from __future__ import annotations

import re

import pytest

from tests.support.podman_pod import PodmanPod
from tests.support.pods import plan

from .conftest import MISSING, SYMLINK_OUT, TRAVERSAL, ZOO


def run_init(server_pods, archive, tmp_path):
    with PodmanPod(plan(server_pods.template(archive)), tmp_path, name="init") as pod:
        (result,) = pod.run_init()
        return pod, result


def test_init_container_unpacks_a_zoo_archive_into_the_model_volume(server_pods, tmp_path):
    pod, result = run_init(server_pods, ZOO, tmp_path)
    assert result.exit_code == 0, result.output
    model = pod.dirs["model"] / "model"  # the emptyDir is mounted at /models; MODEL_DIR is /models/model
    assert (model / "saved_model.pb").is_file() and (model / "variables" / "variables.index").is_file()
    assert result.termination_message == ""


@pytest.mark.parametrize(("archive", "reason"), [
    (MISSING, "not found"),
    (TRAVERSAL, "unsafe archive member refused: 'tiny/../../escaped.txt'"),
    (SYMLINK_OUT, "unsafe archive member refused: 'tiny/saved_model' would land outside"),
], ids=["missing", "path traversal", "symlink out of the volume"])
def test_init_container_fails_with_one_line_in_the_termination_log(server_pods, tmp_path, archive, reason):
    _, result = run_init(server_pods, archive, tmp_path)
    assert result.exit_code == 1, result.output
    message = result.termination_message
    assert message.startswith("model download failed: ") and message.count("\n") == 1, message
    assert reason in message and f"/{archive}" in message, message
    assert not re.search(r"\b\w+Error: ", message), "a Python exception instead of the reason"
    assert not list(tmp_path.rglob("escaped.txt"))
