"""The CI workflow: actionlint-clean, runs the README's test command, builds both images."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from .conftest import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))


def actionlint_binary() -> Path:
    cache = Path(os.environ.get("DETECTOR_CACHE", Path.home() / ".cache/detector-operator"))
    binary = cache / "bin/actionlint"
    assert binary.exists(), "actionlint missing: run hack/install-actionlint.sh (make test does)"
    return binary


def test_workflows_are_clean_under_actionlint():
    assert WORKFLOWS
    result = subprocess.run([str(actionlint_binary()), "-no-color", *map(str, WORKFLOWS)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_make_test_and_builds_both_images():
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(step.get("run", "").startswith("make test") for step in steps)
    builds = workflow["jobs"]["images"]["strategy"]["matrix"]["include"]
    assert {b["dockerfile"] for b in builds} == {"Dockerfile.operator", "Dockerfile.server"}
    assert {b["tf_package"] for b in builds if b["dockerfile"] == "Dockerfile.server"} == {
        "tensorflow-cpu", "tensorflow[and-cuda]"}
