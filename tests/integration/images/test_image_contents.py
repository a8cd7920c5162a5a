"""Both images build; what each one is: its user, its entry points, the Python it runs on."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from detector_operator import builders
from localprocs import REPO
from tests.support import except_clauses
from tests.support.podman_pod import podman

# (image, what its PYTHONPATH root holds, the packages there): the code each image runs.
CODE = {"operator": ("/app/operator", ["detector_operator"]), "server-cpu": ("/app", ["inference_server"])}
ENTRY_POINTS = {"operator": [["python", "-m", "detector_operator"]],
                "server-cpu": [["python", "-m", "inference_server"], ["python", "-m", "inference_server.download"]]}


def config(ref: str) -> dict:
    return json.loads(podman("image", "inspect", ref).stdout)[0]["Config"]


@pytest.mark.parametrize("name", sorted(CODE))
def test_image_runs_as_the_numeric_user_the_pods_require(images, name):
    # Numeric, so runAsNonRoot can be checked; the same UID the operator's pods run as.
    assert config(images[name].ref)["User"] == f"{builders.RUN_AS}:{builders.RUN_AS}"


@pytest.mark.parametrize("name", sorted(CODE))
def test_entry_points_start_inside_the_image(images, name):
    ref = images[name].ref
    assert config(ref)["Entrypoint"] == ENTRY_POINTS[name][0]
    for argv in ENTRY_POINTS[name]:
        done = podman("run", "--rm", "--read-only", "--entrypoint", json.dumps(argv[:1]), ref, *argv[1:], "--help",
                      check=False, timeout=180)
        assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(CODE))
def test_every_except_clause_names_existing_classes_on_the_images_python(images, name):
    """The check of tests/unit/test_except_clauses.py, run by the image's own interpreter: on
    Debian's 3.11.2 `except tarfile.FilterError` was an AttributeError that hid the real error."""
    root, packages = CODE[name]
    checker = Path(except_clauses.__file__)
    done = podman("run", "--rm", "--read-only", "--volume", f"{checker}:/check/except_clauses.py:ro",
                  "--entrypoint", '["python"]', images[name].ref, "/check/except_clauses.py", root, *packages,
                  check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "0 problem(s)" in done.stdout


def test_server_images_python_is_the_bases(images):
    """On the stand-in base the image runs Debian's python3.11, which has no tarfile filters: the
    downloader tests in this directory then prove the fix on exactly that Python."""
    image = images["server-cpu"]
    done = podman("run", "--rm", "--entrypoint", '["python"]', image.ref, "-c",
                  "import sys, tarfile; print(sys.version_info[:3], hasattr(tarfile, 'data_filter'))")
    version, has_filters = done.stdout.strip().rsplit(" ", 1)
    if image.base.standin:
        assert version == "(3, 11, 2)" and has_filters == "False", done.stdout
    else:
        assert version.startswith("(3, 11,"), done.stdout


def test_server_image_reports_pyprojects_version(images):
    """The image copies the sources without installing them: the version reaches
    inference_server.__version__ (server metadata, gRPC ServerMetadata) from the build argument."""
    done = podman("run", "--rm", "--read-only", "--entrypoint", '["python"]', images["server-cpu"].ref, "-c",
                  "import inference_server; print(inference_server.__version__)")
    assert done.stdout.strip() == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
