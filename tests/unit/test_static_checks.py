"""ruff finds nothing in operator/, inference_server/, redaction/, hack/, tests/ and bench/, mypy
nothing in the packages of the first four, with the rules and strictness stated in pyproject.toml
([tool.ruff], [tool.mypy]); `make lint` runs the same two commands beside lint-imports
(tests/unit/operator/test_operator_layers.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from localprocs import REPO

BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    result = run(str(BIN / "ruff"), "check", "--no-fix", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found")
