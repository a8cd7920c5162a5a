"""hack/localimages without building: what an image's content key covers, and the offline rules."""
from __future__ import annotations

import shutil

import pytest

from localimages import base, build, context

from . import dockerfiles
from .conftest import REPO

DOCKERFILES = ("Dockerfile.operator", "Dockerfile.server")


def copy_context(tmp_path):
    """A copy of the repository's build inputs plus files that are not (tests, README, .venv)."""
    root = tmp_path / "repo"
    for rel in [*context.context_files(REPO), ".dockerignore", *DOCKERFILES]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, root / rel)
    for rel in ("README.md", "tests/unit/test_x.py", ".venv/bin/python", "inference_server/__pycache__/a.pyc"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    return root


def key(root, dockerfile="Dockerfile.server", **args):
    return context.content_key(root, dockerfile, {"TF_PACKAGE": "tensorflow-cpu", **args}, "sha256:base")


def test_build_context_is_exactly_what_the_dockerfiles_copy():
    """So editing a test, the README or the operator's docs never rebuilds an image."""
    copied = set()
    for dockerfile in DOCKERFILES:
        for stage in dockerfiles.parse(REPO / dockerfile)[1]:
            copied.update(dockerfiles.copy_sources(stage))
    for rel in context.context_files(REPO):
        assert any(rel == c or rel.startswith(c.rstrip("/") + "/") for c in copied), rel
        assert "__pycache__" not in rel


def test_content_key_follows_the_build_inputs_only(tmp_path):
    root = copy_context(tmp_path)
    before = key(root)
    for rel in ("README.md", "tests/unit/test_x.py", ".venv/bin/python", "inference_server/__pycache__/a.pyc"):
        (root / rel).write_text("changed")
    assert key(root) == before
    assert key(root, TF_PACKAGE="tensorflow[and-cuda]") != before
    assert context.content_key(root, "Dockerfile.server", {"TF_PACKAGE": "tensorflow-cpu"}, "sha256:other") != before
    for rel in ("inference_server/archives.py", "pyproject.toml", "Dockerfile.server"):
        original = (root / rel).read_text()
        (root / rel).write_text(original + "\n# changed\n")
        assert key(root) != before, rel
        (root / rel).write_text(original)
    assert key(root) == before


def test_a_change_to_one_images_source_does_not_rebuild_the_other(tmp_path):
    root = copy_context(tmp_path)
    server, operator = key(root), key(root, "Dockerfile.operator")
    (root / "operator/detector_operator/builders.py").write_text("# changed\n")
    assert key(root) == server and key(root, "Dockerfile.operator") != operator
    (root / "inference_server/app.py").write_text("# changed\n")
    assert key(root) != server


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_pulls_nothing_but_its_base(dockerfile):
    """No `# syntax=` directive (BuildKit would pull a frontend image first) and every FROM is the
    PYTHON_IMAGE base or an earlier stage, so the stand-in base makes the build fully offline."""
    text = (REPO / dockerfile).read_text()
    assert not [line for line in text.splitlines() if line.lower().replace(" ", "").startswith("#syntax=")]
    global_args, stages = dockerfiles.parse(REPO / dockerfile)
    assert global_args["PYTHON_IMAGE"] == base.registry_base()
    names = set()
    for stage in stages:
        assert stage.base in names or stage.base == global_args["PYTHON_IMAGE"], stage.base
        names.add(stage.name)


def test_every_image_name_is_built_from_an_existing_dockerfile_with_known_arguments():
    for name, spec in build.IMAGES.items():
        global_args, stages = dockerfiles.parse(REPO / spec.dockerfile)
        declared = set(global_args) | {a.split("=")[0] for s in stages for a in s.all("ARG")}
        assert set(spec.build_args) | {"PYTHON_IMAGE", "VERSION"} <= declared, name
    assert set(build.DEFAULT) <= set(build.IMAGES)
