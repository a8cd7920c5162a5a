"""Shared fixtures: one local control plane per test session, one namespace per test.

Set DETECTOR_TEST_KUBECONFIG to run against an existing cluster (e.g. `make cluster-up`'s) instead
of starting a fresh one in .local/test-cluster-<pid>.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from localprocs import REPO
from tests.support.kube import restricted_namespace
from tests.support.object_stores import Content, GatedFileServer, serving


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    existing = os.environ.get("DETECTOR_TEST_KUBECONFIG")
    if existing:
        os.environ["KUBECONFIG"] = existing
        yield existing
        return
    from localcluster import Cluster

    # One directory per pytest process: concurrent runs never share (or stop) each other's cluster.
    cluster = Cluster(REPO / ".local" / f"test-cluster-{os.getpid()}")
    cluster.up()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    try:
        yield str(cluster.kubeconfig)
    finally:
        cluster.down(quiet=True)


@pytest.fixture(scope="session")
def audit_log(kubeconfig: str) -> Path:
    """The local API server's audit log: every list, watch and write a client made (localcluster)."""
    from localcluster import Cluster

    path = Cluster(Path(kubeconfig).parent).audit_log
    if not path.exists():
        pytest.fail(f"no audit log at {path}: DETECTOR_TEST_KUBECONFIG must be a localcluster cluster")
    return path


@pytest.fixture
def namespace(kubeconfig: str, request: pytest.FixtureRequest) -> str:
    """A fresh namespace that enforces PodSecurity `restricted`; deleted after the test."""
    yield from restricted_namespace(request, prefix="t", width=40)


# --- the server's test model and where it is served from ------------------------------------------

@pytest.fixture(scope="session")
def zoo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Zoo-signature SavedModel (tests/support/zoo_model.py), built once per session."""
    from tests.support.zoo_model import build_zoo_savedmodel

    return build_zoo_savedmodel(tmp_path_factory.mktemp("zoo") / "saved_model")


@pytest.fixture(scope="session")
def zoo_tarball(zoo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model packed as the Zoo ships it (a .tar.gz)."""
    from tests.support.zoo_model import make_zoo_tarball

    return make_zoo_tarball(zoo_model_dir, tmp_path_factory.mktemp("zoo-tar") / "tiny_ssd.tar.gz")


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[Callable[..., GatedFileServer]]:
    """`file_server(files, gated=..., forbidden=..., cut_short=...)`: an HTTP server on loopback
    serving `files` (name -> Path, bytes or text; see object_stores.GatedFileServer for the
    behaviours); every one started is closed at the end of the test."""
    with ExitStack() as stack:
        count = itertools.count()

        def serve(files: Mapping[str, Content], **behaviour: Any) -> GatedFileServer:
            return stack.enter_context(serving(tmp_path / f"www-{next(count)}", files, **behaviour))

        yield serve
