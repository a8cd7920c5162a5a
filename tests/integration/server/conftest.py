"""Fixtures for the server's integration tests: one shared server over the session's tiny SavedModel
(zoo_model_dir, tests/conftest.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.server_process import SHARED_MAX_BODY, TEST_MODEL_NAME, ServerProcess

MODEL_NAME = TEST_MODEL_NAME



@pytest.fixture(scope="session")
def shared_server(zoo_model_dir, tmp_path_factory):
    """The model from a file:// URI, batching over 30 ms so concurrent tests really batch."""
    server = ServerProcess(
        zoo_model_dir.as_uri(), "--model-name", MODEL_NAME, "--max-batch-size", "8", "--batch-timeout-ms", "30",
        "--max-body-bytes", str(SHARED_MAX_BODY), log_dir=tmp_path_factory.mktemp("shared-server"),
    )
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture
def client(shared_server):
    with httpx.Client(base_url=shared_server.url, timeout=30) as c:
        yield c


@pytest.fixture
def server_factory(tmp_path):
    """Servers of a test's own; every one is stopped at the end."""
    started: list[ServerProcess] = []

    def start(model_uri: str, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(model_uri, *args, env=env, log_dir=tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
