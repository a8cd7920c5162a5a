"""How the operator reaches and authenticates to the API server: the official client's loader
(`kubernetes.config`), one path for kube.py and kopf alike.

In a pod: the ServiceAccount's token and CA (the loader re-reads the token file every minute, so
a rotated token is picked up). Elsewhere: $KUBECONFIG (several files merged, the first naming an
entry winning) or ~/.kube/config, as kubectl reads it: tokens and token files, client
certificates as files or data, exec plugins (EKS, GKE, OIDC logins) run again shortly before
their token expires, auth providers. This module only reads the resulting
`kubernetes.client.Configuration`: where the server is, how to trust it, the client certificate,
and the Authorization header through the loader's own refresh hook.

Why the official loader and not our own: kubeconfig handling is security-sensitive and the
client keeps it (plugin protocol versions, refresh, providers); kopf's own `login_via_client`
uses the same loader. Only the loader: kube.py's requests stay plain JSON over aiohttp (kube.py
says why). The memory it costs is in the README ("The operator", Credentials).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes.client
import kubernetes.config
import yaml
from kubernetes.config.incluster_config import InClusterConfigLoader

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class CredentialsError(Exception):
    """No usable way to reach the API server; the message says which file or field is wrong."""


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None
    verify: bool
    cert_path: str | None
    key_path: str | None
    tls_server_name: str | None
    config: kubernetes.client.Configuration = field(repr=False, compare=False)

    def auth_header(self) -> str | None:
        """The Authorization header to send now, after the loader's refresh hook (an exec plugin
        run again when its token nears expiry, the in-cluster token file re-read each minute).
        May block (a plugin is a subprocess): call it off the event loop."""
        with _loader_errors() as errors:
            header = self.config.get_api_key_with_prefix("BearerToken", alias="authorization")
        if errors:
            raise CredentialsError("; ".join(errors))
        # The in-cluster loader keeps the token file's content as it is, newline included.
        return header.strip() if header else None

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        ctx = ssl.create_default_context(cafile=self.ca_path)
        if self.cert_path:
            ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def load(environ: dict[str, str] | None = None) -> Credentials:
    """In a pod the ServiceAccount, else the kubeconfig. The loader runs an exec plugin here, so a
    failing one is reported at once, with its own message."""
    environ = dict(os.environ) if environ is None else environ
    config = kubernetes.client.Configuration()
    with _loader_errors() as errors:
        try:
            loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]  # untyped loader
                token_filename=str(SERVICE_ACCOUNT / "token"), cert_filename=str(SERVICE_ACCOUNT / "ca.crt"),
                environ=environ)
            loader.load_and_set(config)  # type: ignore[no-untyped-call]
        except kubernetes.config.ConfigException:
            _load_kubeconfig(environ, config)
    if errors:
        raise CredentialsError("; ".join(errors))
    return Credentials(server=config.host.rstrip("/"), ca_path=config.ssl_ca_cert, verify=config.verify_ssl,
                       cert_path=config.cert_file, key_path=config.key_file,
                       tls_server_name=config.tls_server_name, config=config)


def _load_kubeconfig(environ: dict[str, str], config: kubernetes.client.Configuration) -> None:
    listed = environ.get("KUBECONFIG", "")
    files = [p for p in listed.split(os.pathsep) if p and Path(p).expanduser().is_file()]
    if not files and not listed and (Path.home() / ".kube" / "config").is_file():
        files = [str(Path.home() / ".kube" / "config")]
    if not files:
        raise CredentialsError(f"no kubeconfig found ({listed or '~/.kube/config'}) and not running in a pod")
    try:
        # persist_config=False: never write back into the user's kubeconfig (refreshed tokens).
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]  # untyped loader
            config_file=os.pathsep.join(files), context=_first_current_context(files),
            client_configuration=config, persist_config=False)
    except (kubernetes.config.ConfigException, OSError, ValueError, yaml.YAMLError) as e:
        raise CredentialsError(f"kubeconfig {os.pathsep.join(files)}: {e}") from None


def _first_current_context(files: list[str]) -> str | None:
    """The current-context of the first file that sets one, as kubectl takes it: the client's
    merger lets the last file win (kubernetes-client/python PR #2386, open), so name it."""
    for name in files:
        with open(Path(name).expanduser()) as f:
            context = (yaml.safe_load(f) or {}).get("current-context")
        if context:
            return str(context)
    return None


@contextmanager
def _loader_errors() -> Iterator[list[str]]:
    """Collect what the loader only logs: a failing exec plugin is logged at ERROR and then
    treated as no credentials, which would surface later as a bare 401."""
    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and record.pathname.startswith(_CONFIG_DIR):
                errors.append(record.getMessage())

    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield errors
    finally:
        root.removeHandler(handler)


_CONFIG_DIR = str(Path(kubernetes.config.__file__).parent)
