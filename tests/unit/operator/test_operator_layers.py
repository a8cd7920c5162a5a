"""The operator's import layers (.importlinter) hold: pure modules stay pure."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from localprocs import REPO


def test_pure_modules_import_no_kopf_client_or_tensorflow_and_layers_run_one_way():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--config", str(REPO / ".importlinter")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
