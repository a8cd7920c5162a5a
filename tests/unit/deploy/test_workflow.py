"""The CI workflow: actionlint-clean, runs the README's test command, builds both images."""
from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

import localimages
import localprocs
from detector_operator import settings

from .conftest import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))


def actionlint_binary() -> Path:
    binary = localprocs.BIN_DIR / "actionlint"
    assert binary.exists(), "actionlint missing: run hack/install-actionlint.sh (make test does)"
    return binary


def test_workflows_are_clean_under_actionlint():
    assert WORKFLOWS
    result = subprocess.run([str(actionlint_binary()), "-no-color", *map(str, WORKFLOWS)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_make_test_and_builds_every_image_through_the_project_build():
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(step.get("run", "").startswith("make test") for step in steps)
    images = workflow["jobs"]["images"]
    builds = {b["name"]: b["tag"] for b in images["strategy"]["matrix"]["include"]}
    assert set(builds) == set(localimages.IMAGES), "every image the project builds, and only those"
    specs = [localimages.IMAGES[name] for name in builds]
    assert {s.dockerfile for s in specs} == {"Dockerfile.operator", "Dockerfile.server"}
    assert {s.build_args.get("TF_PACKAGE") for s in specs} == {None, "tensorflow-cpu", "tensorflow[and-cuda]"}
    # The release names are the operator's defaults, and a release build never uses the stand-in.
    assert {builds["server-cpu"], builds["server-gpu"]} == {settings.DEFAULT_CPU_IMAGE, settings.DEFAULT_GPU_IMAGE}
    (build,) = [s["run"] for s in images["steps"] if "localimages build" in s.get("run", "")]
    assert "--base registry" in build and "--tag" in build
