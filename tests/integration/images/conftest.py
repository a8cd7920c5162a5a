"""Fixtures for the image tests: the images (built when out of date), the model archives and the
local HTTP server the pods download them from.

The images come from `localimages.ensure()`, the same build as `make images`: a warm run only
checks one content key per image. `make test` builds them before pytest starts, so a cold build's
progress shows on the terminal and no test's timeout includes it; run here directly on a cold
cache, the build prints its progress through pytest's capture.
"""
from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import localimages
from detector_operator.settings import Settings
from tests.support.object_stores import GatedFileServer, serving
from tests.support.podman_pod import host_url
from tests.support.pods import pod_template
from tests.support.zoo_model import make_zoo_tarball

# The archive names the model server offers (tests/integration/images/*.py ask for these).
ZOO = "tiny_ssd.tar.gz"
TRAVERSAL = "traversal.tar.gz"
SYMLINK_OUT = "symlink-out.tar.gz"
MISSING = "no-such-model.tar.gz"


# A cold build (base, TensorFlow) outlasts pytest's 600 s per-test timeout when these tests run
# without `make test` building first; every wait inside the tests has its own deadline.
COLD_BUILD_TIMEOUT = 3600
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.timeout(COLD_BUILD_TIMEOUT))


@pytest.fixture(scope="session")
def images(pytestconfig: pytest.Config) -> dict[str, localimages.Image]:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        return localimages.ensure(localimages.DEFAULT)


def _unsafe(path: Path, *members: tarfile.TarInfo) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"owned") if info.isfile() else None)


@pytest.fixture(scope="session")
def model_server(zoo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatedFileServer]:
    """Serves the Zoo tarball and two unsafe archives on 127.0.0.1 only."""
    root = tmp_path_factory.mktemp("www")
    make_zoo_tarball(zoo_model_dir, root / ZOO)
    escape = tarfile.TarInfo("tiny/../../escaped.txt")
    escape.size = 5
    link = tarfile.TarInfo("tiny/saved_model")
    link.type, link.linkname = tarfile.SYMTYPE, "../../.."
    _unsafe(root / TRAVERSAL, escape)
    _unsafe(root / SYMLINK_OUT, link)
    with serving(root) as server:
        yield server


@dataclass(frozen=True)
class ServerPods:
    """Pod templates for the server image, as the operator's builders write them."""

    image: str
    port: int  # the model server's, on the host's loopback

    def template(self, archive: str, **spec) -> dict:
        return pod_template({"modelUri": host_url(self.port, f"/{archive}"), **spec}, name="tiny",
                            settings=Settings(cpu_image=self.image))


@pytest.fixture(scope="session")
def server_pods(images, model_server) -> ServerPods:
    return ServerPods(images["server-cpu"].ref, int(model_server.url.rsplit(":", 1)[1]))
