"""The release version has one owner, pyproject.toml's [project] version: the packages report it
from the installed metadata, and every manifest, overlay, workflow tag, Dockerfile default and
documented image name that carries a release version is checked against it here."""
from __future__ import annotations

import re
import tomllib

import detector_operator
import inference_server
from detector_operator import settings
from localprocs import REPO

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# A release image name; the server's carry a -cpu or -gpu variant after the version.
RELEASE_IMAGE = re.compile(r"ghcr\.io/vision-mlops/detector-(?:operator|server):(\d[\w.]*?)(?:-cpu|-gpu)?(?![\w.])")
NAMING_FILES = ("deploy/**/*.yaml", ".github/workflows/*.yml", "Dockerfile.*", "README.md", "docs/*.md")


def test_the_packages_report_pyprojects_version():
    assert inference_server.__version__ == VERSION, "installed metadata is stale: run `make venv`"
    assert detector_operator.__version__ == VERSION


def test_every_release_image_name_and_version_default_is_pyprojects_version():
    found: dict[str, set[str]] = {}
    for pattern in NAMING_FILES:
        for path in sorted(REPO.glob(pattern)):
            text = path.read_text()
            versions = set(RELEASE_IMAGE.findall(text)) | set(re.findall(r"^ARG VERSION=(\S+)$", text, re.MULTILINE))
            if versions:
                found[str(path.relative_to(REPO))] = versions
    assert {"deploy/base/deployment.yaml", ".github/workflows/ci.yml", "Dockerfile.operator",
            "Dockerfile.server"} <= set(found), "the scan must see the places that name the release"
    stale = {path: versions for path, versions in found.items() if versions != {VERSION}}
    assert not stale, f"pyproject.toml says {VERSION}; these name another release: {stale}"


def test_the_production_overlay_and_the_operators_defaults_use_pyprojects_version():
    overlay = (REPO / "deploy/overlays/production/kustomization.yaml").read_text()
    assert re.findall(r"newTag:\s*(\S+)", overlay) == [VERSION]
    assert settings.DEFAULT_CPU_IMAGE.endswith(f":{VERSION}-cpu")
    assert settings.DEFAULT_GPU_IMAGE.endswith(f":{VERSION}-gpu")
