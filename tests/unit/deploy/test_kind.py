"""deploy/kind: the laptop path cannot run here (no Docker), so check what can be checked."""
from __future__ import annotations

import re
import subprocess

import yaml

from .conftest import REPO

SCRIPT = REPO / "deploy/kind/up.sh"


def test_kind_script_is_valid_bash_and_stops_on_errors():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "set -euo pipefail" in SCRIPT.read_text()


def test_kind_script_uses_files_that_exist():
    text = SCRIPT.read_text()
    paths = set(re.findall(r"(?<![\w/.-])((?:deploy|samples)/[\w./-]+|Dockerfile\.\w+)", text))
    assert {"Dockerfile.operator", "Dockerfile.server", "deploy/overlays/dev",
            "deploy/kind/cluster.yaml"} <= paths
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, missing


def test_kind_cluster_config_is_a_kind_cluster():
    config = yaml.safe_load((REPO / "deploy/kind/cluster.yaml").read_text())
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    assert f"CLUSTER={config['name']}\n" in SCRIPT.read_text()
