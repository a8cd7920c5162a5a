"""kopf and kube.py reach the API server through one credential loader: a kubeconfig whose user
is an exec plugin (as EKS, GKE and OIDC logins are) works for the whole operator."""
from __future__ import annotations

import json
import stat
import sys

import pytest

from tests.support.kube import apply, kubectl, kubectl_json, sample, token_kubeconfig, wait_ready
from tests.support.operator_process import OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def exec_kubeconfig(token: str, workdir) -> tuple[str, object]:
    """A kubeconfig with no credentials of its own: a plugin prints an ExecCredential and logs each call."""
    calls = workdir / "plugin-calls.log"
    plugin = workdir / "token-plugin"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": token}}
    plugin.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(calls)!r}, 'a').write('called\\n')\n"
                      f"print(json.dumps({credential!r}))\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    config = json.loads(token_kubeconfig("unused", workdir / "base.kubeconfig").read_text())
    config["users"] = [{"name": "token", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "interactiveMode": "Never"}}}]
    path = workdir / "exec.kubeconfig"
    path.write_text(json.dumps(config))
    return str(path), calls


def test_operator_logged_in_through_an_exec_plugin_reconciles_to_ready(crds, namespace, tmp_path):
    account = "exec-login"
    kubectl("create", "serviceaccount", account, "-n", namespace)
    binding = f"{namespace}-exec-login"
    kubectl("create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:{account}")
    try:
        token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
        config, calls = exec_kubeconfig(token, tmp_path)
        operator = OperatorProcess(tmp_path, env={"KUBECONFIG": config, "DETECTOR_WATCH_NAMESPACES": namespace}).start()
        try:
            apply(namespace, sample("cpu-detector"))
            (od,) = wait_ready(namespace, "cpu-detector", timeout=90)
            assert od["status"]["observedGeneration"] == od["metadata"]["generation"]
            # Both kopf (the watches) and kube.py (apply, status) used the plugin's token: the
            # children were written by our field manager and the plugin ran.
            deployment = kubectl_json("get", "deployment", "cpu-detector-detector", "-n", namespace, "--show-managed-fields")
            managers = {m["manager"] for m in deployment["metadata"]["managedFields"]}
            assert "detector-operator" in managers
            assert calls.read_text().count("called") >= 1
            assert "Unauthorized" not in operator.log_text() and "401" not in operator.log_text()
        finally:
            operator.stop()
    finally:
        kubectl("delete", "clusterrolebinding", binding, check=False)
