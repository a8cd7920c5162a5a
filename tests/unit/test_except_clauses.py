"""No except clause can hide the real error: each names exception classes that exist on this Python.

The image tests run the same check with each image's own Python (tests/integration/images).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from localprocs import REPO
from tests.support import except_clauses

# (source root, packages under it): everything the images and the dev tools import.
PROJECT_PACKAGES = [
    ("operator", ["detector_operator"]),
    (".", ["inference_server"]),
    ("hack", ["localcluster", "localimages", "localprocs"]),
]


@pytest.mark.parametrize(("root", "packages"), PROJECT_PACKAGES, ids=lambda v: v if isinstance(v, str) else None)
def test_every_except_clause_in_the_project_names_existing_exception_classes(root, packages):
    done = subprocess.run([sys.executable, except_clauses.__file__, str(REPO / root), *packages],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_clause_that_would_fail_while_handling_an_error_is_reported(tmp_path, monkeypatch):
    package = tmp_path / "sample_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "import tarfile\n"
        "ERRORS = (KeyError, tarfile.TarError)\n"
        "def fine():\n"
        "    from json import JSONDecodeError as Bad\n"
        "    try: pass\n"
        "    except (Bad, ERRORS, OSError): pass\n"
        "def broken(self):\n"
        "    try: pass\n"
        "    except tarfile.NoSuchError: pass\n"
        "    try: pass\n"
        "    except self.errors: pass\n"
        "    try: pass\n"
        "    except tarfile.open: pass\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))  # check_packages prepends the root
    problems = except_clauses.check_packages(tmp_path, ["sample_pkg"])
    assert [p.split(": ", 1)[0] for p in problems] == [f"{package / 'mod.py'}:{n}" for n in (9, 11, 13)]
    assert "AttributeError: module 'tarfile' has no attribute 'NoSuchError'" in problems[0]
    assert "cannot be checked" in problems[1]
    assert "not exception classes" in problems[2]
