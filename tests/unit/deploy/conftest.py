"""Shared paths and helpers for the deploy/ unit tests (no cluster needed)."""
from __future__ import annotations

import pytest
import yaml

from localprocs import REPO, kubectl

OVERLAYS = ("production", "namespaced", "dev")


def render(kustomization: str) -> list[dict]:
    """`kubectl kustomize <dir>` parsed into objects; fails with kustomize's own error."""
    result = kubectl("kustomize", str(REPO / kustomization), check=False)
    assert result.returncode == 0, f"kustomize {kustomization} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(objects: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {overlay: render(f"deploy/overlays/{overlay}") for overlay in OVERLAYS}
