"""How the operator reaches and authenticates to the API server: the one loader for kube.py and kopf.

In a pod: the ServiceAccount's projected token and CA (read again when the token rotates).
Elsewhere: $KUBECONFIG (or ~/.kube/config) as kubectl reads it: the current context's cluster
(server, CA file or data, insecure-skip-tls-verify) and user (token, tokenFile, client
certificate and key as files or data, or an exec plugin such as EKS's, GKE's or an OIDC login,
`client.authentication.k8s.io/v1` or `v1beta1`). Several files in $KUBECONFIG are merged, the
first naming an entry winning, as kubectl does.

Why our own and not kubernetes_asyncio's loaders: kopf imports kubernetes_asyncio's whole client
whenever it is installed, 35 MiB of the operator's memory for a loader of a hundred lines.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_TIMEOUT = 60


class CredentialsError(Exception):
    """No usable way to reach the API server; the message says which file or field is wrong."""


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None
    verify: bool
    cert_path: str | None
    key_path: str | None
    token: str | None  # a bearer token, without the "Bearer " scheme
    expires: datetime.datetime | None = None  # an exec plugin's token expiry

    @property
    def auth_header(self) -> str | None:
        return f"Bearer {self.token}" if self.token else None

    def expired(self, now: datetime.datetime | None = None, margin: float = 30) -> bool:
        now = now or datetime.datetime.now(datetime.UTC)
        return self.expires is not None and now >= self.expires - datetime.timedelta(seconds=margin)

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        ctx = ssl.create_default_context(cafile=self.ca_path)
        if self.cert_path:
            ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def load(environ: dict[str, str] | None = None) -> Credentials:
    environ = dict(os.environ) if environ is None else environ
    if "KUBERNETES_SERVICE_HOST" in environ and (SERVICE_ACCOUNT / "token").is_file():
        return in_cluster(environ)
    return from_kubeconfig(environ)


def in_cluster(environ: dict[str, str]) -> Credentials:
    host, port = environ["KUBERNETES_SERVICE_HOST"], environ.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    return Credentials(server=f"https://{host}:{port}", ca_path=str(SERVICE_ACCOUNT / "ca.crt"), verify=True,
                       cert_path=None, key_path=None, token=(SERVICE_ACCOUNT / "token").read_text().strip())


def _merged(paths: list[Path]) -> tuple[dict[str, Any], dict[str, Path]]:
    """The kubeconfig files merged (first wins), and the directory each named entry came from."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    origin: dict[str, Path] = {}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise CredentialsError(f"cannot read kubeconfig {path}: {e}") from None
        merged["current-context"] = merged["current-context"] or data.get("current-context")
        for kind, field in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in data.get(kind) or []:
                if entry.get("name") not in merged[kind]:
                    merged[kind][entry.get("name")] = entry.get(field) or {}
                    origin[f"{kind}/{entry.get('name')}"] = path.parent
    return merged, origin


def from_kubeconfig(environ: dict[str, str]) -> Credentials:
    listed = [Path(p) for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    paths = [p for p in listed if p.is_file()] or ([] if listed else [Path.home() / ".kube" / "config"])
    paths = [p for p in paths if p.is_file()]
    if not paths:
        raise CredentialsError(f"no kubeconfig found ({environ.get('KUBECONFIG') or '~/.kube/config'}) "
                               "and not running in a pod")
    config, origin = _merged(paths)
    name = config["current-context"]
    context = config["contexts"].get(name)
    if context is None:
        raise CredentialsError(f"kubeconfig {paths[0]}: current-context {name!r} is not defined")
    cluster = config["clusters"].get(context.get("cluster"))
    user = config["users"].get(context.get("user"), {})
    if not cluster or not cluster.get("server"):
        raise CredentialsError(f"kubeconfig: context {name!r} names no cluster with a server")
    base_c, base_u = origin[f"clusters/{context['cluster']}"], origin.get(f"users/{context.get('user')}", paths[0].parent)
    cert, key = _file(user, "client-certificate", base_u), _file(user, "client-key", base_u)
    token, expires = user.get("token"), None
    if user.get("tokenFile"):
        token = (base_u / user["tokenFile"]).read_text().strip()
    if user.get("exec"):
        token, exec_cert, exec_key, expires = run_exec_plugin(user["exec"], base_u, cluster)
        cert, key = exec_cert or cert, exec_key or key
    if user.get("username") or user.get("auth-provider"):
        raise CredentialsError(f"kubeconfig user {context.get('user')!r}: basic auth and auth-provider are not "
                               "supported (kubectl dropped auth-provider too): use a token, a client certificate "
                               "or an exec plugin")
    return Credentials(server=cluster["server"].rstrip("/"), ca_path=_file(cluster, "certificate-authority", base_c),
                       verify=not cluster.get("insecure-skip-tls-verify"), cert_path=cert, key_path=key,
                       token=token, expires=expires)


def _file(entry: dict[str, Any], field: str, base: Path) -> str | None:
    """A path field, or its -data twin written to a private file (ssl wants files)."""
    if entry.get(f"{field}-data"):
        return _private_file(base64.b64decode(entry[f"{field}-data"]))
    return str(base / entry[field]) if entry.get(field) else None


_PRIVATE_DIR: Path | None = None


def _private_file(content: bytes) -> str:
    """One 0600 file per distinct content in a private directory, so reloads write nothing new."""
    global _PRIVATE_DIR
    if _PRIVATE_DIR is None:
        _PRIVATE_DIR = Path(tempfile.mkdtemp(prefix="detector-operator-"))  # mode 0700
    path = _PRIVATE_DIR / f"{hashlib.sha256(content).hexdigest()[:32]}.pem"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
    return str(path)


def run_exec_plugin(spec: dict[str, Any], base: Path, cluster: dict[str, Any]
                    ) -> tuple[str | None, str | None, str | None, datetime.datetime | None]:
    """Run a client-go credential plugin: (token, cert file, key file, expiry)."""
    api_version = spec.get("apiVersion", "client.authentication.k8s.io/v1")
    command = spec.get("command") or ""
    if "/" in command and not os.path.isabs(command):
        command = str(base / command)  # a relative path is relative to the kubeconfig, as in client-go
    env = {**os.environ, **{e["name"]: e["value"] for e in spec.get("env") or []}}
    exec_info = {"apiVersion": api_version, "kind": "ExecCredential",
                 "spec": {"interactive": False, **({"cluster": {"server": cluster["server"]}}
                                                   if spec.get("provideClusterInfo") else {})}}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(exec_info)
    try:
        done = subprocess.run([command, *(spec.get("args") or [])], env=env, capture_output=True, text=True,
                              timeout=EXEC_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CredentialsError(f"credential plugin {command!r} could not run: {e}") from None
    if done.returncode != 0:
        raise CredentialsError(f"credential plugin {command!r} exited {done.returncode}: "
                               f"{done.stderr.strip()[:500] or 'no message'}")
    try:
        status = json.loads(done.stdout)["status"]
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(f"credential plugin {command!r} printed no ExecCredential status") from None
    cert = status.get("clientCertificateData")
    key = status.get("clientKeyData")
    expires = status.get("expirationTimestamp")
    return (
        status.get("token"),
        _private_file(cert.encode()) if cert else None,
        _private_file(key.encode()) if key else None,
        datetime.datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
    )
