"""kopf and kube.py reach the API server through one credential loader, the official client's
(kubernetes.config): a kubeconfig whose user is an exec plugin (as EKS, GKE and OIDC logins are)
works for the whole operator, and in a pod a rotated ServiceAccount token is picked up."""
from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from detector_operator import credentials, handlers, kube
from localprocs import wait_for
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
        operator = OperatorProcess(tmp_path, env={"KUBECONFIG": config,
                                                  "DETECTOR_WATCH_NAMESPACES": namespace}).start()
        try:
            apply(namespace, sample("cpu-detector"))
            (od,) = wait_ready(namespace, "cpu-detector", timeout=90)
            assert od["status"]["observedGeneration"] == od["metadata"]["generation"]
            # Both kopf (the watches) and kube.py (apply, status) used the plugin's token: the
            # children were written by our field manager and the plugin ran.
            deployment = kubectl_json("get", "deployment", "cpu-detector-detector", "-n", namespace,
                                      "--show-managed-fields")
            managers = {m["manager"] for m in deployment["metadata"]["managedFields"]}
            assert "detector-operator" in managers
            assert calls.read_text().count("called") >= 1
            assert "Unauthorized" not in operator.log_text() and "401" not in operator.log_text()
        finally:
            operator.stop()
    finally:
        kubectl("delete", "clusterrolebinding", binding, check=False)


async def whoami(client: kube.Kube) -> str:
    review = await client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                  body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    return review["status"]["userInfo"]["username"]


async def test_in_a_pod_a_rotated_service_account_token_is_picked_up(kubeconfig, namespace, tmp_path, monkeypatch):
    # Two ServiceAccounts stand for the token before and after the kubelet rotates it: deleting
    # the first revokes its token, as an expired projected token is refused.
    for account in ("before", "after"):
        kubectl("create", "serviceaccount", account, "-n", namespace)
    old, new = (kubectl("create", "token", account, "-n", namespace).stdout.strip() for account in ("before", "after"))
    cluster = kubectl_json("config", "view", "--raw", "--minify")["clusters"][0]["cluster"]
    secrets = tmp_path / "serviceaccount"  # what the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount
    secrets.mkdir()
    (secrets / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"])
                                     if "certificate-authority-data" in cluster
                                     else Path(cluster["certificate-authority"]).read_bytes())
    (secrets / "token").write_text(old)
    server = urlsplit(cluster["server"])
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT", secrets)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", server.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))

    client = await kube.Kube.connect()  # in-cluster wins over $KUBECONFIG (the admin's, for kubectl here)
    try:
        assert await whoami(client) == f"system:serviceaccount:{namespace}:before"
        assert (await handlers.login()).token == old

        # The kubelet replaces the file atomically (a symlink swap); the old token stops working.
        (secrets / "token.new").write_text(new)
        os.replace(secrets / "token.new", secrets / "token")
        kubectl("delete", "serviceaccount", "before", "-n", namespace)
        old_config = token_kubeconfig(old, tmp_path / "old.kubeconfig")
        wait_for(lambda: kubectl("auth", "whoami", kubeconfig=old_config, check=False).returncode != 0,
                 timeout=60, message="the old token to be refused")

        # kube.py: the cached header is refused once, reloaded through the loader, and retried.
        assert await whoami(client) == f"system:serviceaccount:{namespace}:after"
        # kopf: its next login (after a 401) reads the new token through the same loader.
        assert (await handlers.login()).token == new
    finally:
        await client.close()
