"""Pure modules stay pure: the codecs and batcher never pull in TensorFlow or the web framework, and the
init container's downloader starts without TensorFlow (it would cost seconds and ~600 MB)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              timeout=60).stdout.split())


@pytest.mark.parametrize("module", [
    "inference_server.protocol.v1", "inference_server.protocol.v2", "inference_server.protocol.detect",
    "inference_server.protocol.v2_binary", "inference_server.protocol.v2_grpc", "inference_server.signature",
    "inference_server.batching", "inference_server.labels", "inference_server.errors",
])
def test_pure_modules_import_neither_tensorflow_nor_fastapi(module):
    loaded = loaded_after_import(module)
    assert not loaded & {"tensorflow", "fastapi", "starlette", "detector_operator"}


def test_the_downloader_starts_without_tensorflow():
    loaded = loaded_after_import("inference_server.download")
    assert "tensorflow" not in loaded and "detector_operator" not in loaded
    assert not loaded & {"grpc", "fastapi", "prometheus_client"}  # nor the server's state


def test_building_the_app_loads_no_grpc_until_it_starts():
    assert not loaded_after_import("inference_server.app") & {"grpc", "tensorflow", "tensorflow_serving"}
