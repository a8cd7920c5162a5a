"""credentials.py reads kubeconfigs through the official client's loader (kubernetes.config), as
kubectl does: the one loader for kube.py and kopf. These pin the behaviours the operator relies
on; tests/integration/operator logs in through an exec plugin and survives a token rotation."""
from __future__ import annotations

import base64
import datetime
import stat
import sys
from pathlib import Path

import pytest
import yaml

from detector_operator import credentials
from detector_operator.credentials import CredentialsError


def kubeconfig(path, user, *, cluster=None, context="dev", name="dev"):
    (path.parent / "ca.crt").write_text("ca")  # the loader checks that the file exists
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": name, "cluster": cluster or {"server": "https://127.0.0.1:6443/",
                                                            "certificate-authority": "ca.crt"}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }))
    return path


def plugin(tmp_path, status, api="client.authentication.k8s.io/v1beta1", exit_code=0):
    """An exec plugin that checks what it is given, prints an ExecCredential and counts its calls."""
    calls = tmp_path / "calls"
    script = tmp_path / "plugin"
    script.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                      f"info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
                      f"assert info['apiVersion'] == {api!r} and info['spec']['interactive'] is False\n"
                      f"open({str(calls)!r}, 'a').write('x')\n"
                      f"print(json.dumps({{'apiVersion': {api!r}, 'kind': 'ExecCredential', 'status': {status!r}}}))\n"
                      f"sys.stderr.write('plugin says no'); sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, calls


def exec_user(script, api="client.authentication.k8s.io/v1beta1"):
    return {"exec": {"apiVersion": api, "command": str(script)}}


def test_token_and_ca_paths_relative_to_the_kubeconfig(tmp_path):
    kc = kubeconfig(tmp_path / "config", {"token": "t0k3n"})
    creds = credentials.load({"KUBECONFIG": str(kc)})
    assert creds.server == "https://127.0.0.1:6443" and creds.auth_header() == "Bearer t0k3n"
    assert creds.ca_path == str(tmp_path / "ca.crt") and creds.verify


def test_certificate_data_becomes_private_files(tmp_path):
    pem = b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
    user = {"client-certificate-data": base64.b64encode(pem).decode(),
            "client-key-data": base64.b64encode(b"key").decode()}
    kc = kubeconfig(tmp_path / "config", user, cluster={"server": "https://h", "insecure-skip-tls-verify": True})
    creds = credentials.load({"KUBECONFIG": str(kc)})
    assert Path(creds.cert_path).read_bytes() == pem and Path(creds.key_path).read_bytes() == b"key"
    assert stat.S_IMODE(Path(creds.key_path).stat().st_mode) == 0o600 and not creds.verify
    assert credentials.load({"KUBECONFIG": str(kc)}).key_path == creds.key_path  # reloads write nothing new


def stamp(**delta):
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("valid_for, runs", [({"hours": 1}, 1), ({"minutes": 2}, 2)], ids=["an-hour", "2-minutes"])
def test_exec_plugin_runs_again_only_when_its_token_nears_expiry(tmp_path, valid_for, runs):
    script, calls = plugin(tmp_path, {"token": "from-plugin", "expirationTimestamp": stamp(**valid_for)})
    creds = credentials.load({"KUBECONFIG": str(kubeconfig(tmp_path / "config", exec_user(script)))})
    assert creds.auth_header() == "Bearer from-plugin"
    # load() ran it once; within the loader's 5-minute margin of expiry it runs again per header.
    assert len(calls.read_text()) == runs


def test_a_failing_exec_plugin_is_reported_with_its_message(tmp_path):
    script, _ = plugin(tmp_path, {"token": "x"}, exit_code=3)
    kc = kubeconfig(tmp_path / "config", exec_user(script))
    with pytest.raises(CredentialsError, match=r"returned 3\. plugin says no"):
        credentials.load({"KUBECONFIG": str(kc)})


def test_several_kubeconfig_files_merge_first_wins(tmp_path):
    first = kubeconfig(tmp_path / "a", {"token": "from-a"})
    second = kubeconfig(tmp_path / "b", {"token": "from-b"}, context="other")
    creds = credentials.load({"KUBECONFIG": f"{first}:{tmp_path / 'missing'}:{second}"})
    assert creds.auth_header() == "Bearer from-a"


def test_missing_context_and_missing_file_are_named(tmp_path):
    kc = kubeconfig(tmp_path / "config", {"token": "t"}, context="nope")
    with pytest.raises(CredentialsError, match="nope"):
        credentials.load({"KUBECONFIG": str(kc)})
    with pytest.raises(CredentialsError, match="no kubeconfig found"):
        credentials.load({"KUBECONFIG": str(tmp_path / "absent")})


def test_a_missing_ca_file_is_named(tmp_path):
    kc = kubeconfig(tmp_path / "config", {"token": "t"})
    (tmp_path / "ca.crt").unlink()
    with pytest.raises(CredentialsError, match=r"File does not exist: .*ca\.crt"):
        credentials.load({"KUBECONFIG": str(kc)})


def test_in_a_pod_the_service_account_token_is_used(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("ca")
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT", tmp_path)
    creds = credentials.load({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert (creds.server, creds.auth_header(), creds.ca_path) == (
        "https://10.96.0.1:443", "bearer sa-token", str(tmp_path / "ca.crt"))
