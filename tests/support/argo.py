"""Watching Argo CD's Applications the way a person watching `kubectl get applications -w` would,
but recorded: every version of every Application as the API server streams it, with the time it
arrived, so a test can ask what was ever seen (a transient OutOfSync, a failed sync attempt)."""
from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic()
    name: str
    sync: str
    health: str
    phase: str  # of the last sync operation: Running, Succeeded, Failed, Error, or ""
    retries: int
    message: str
    body: dict[str, Any]

    @classmethod
    def of(cls, at: float, app: dict[str, Any]) -> Seen:
        st = app.get("status") or {}
        op = st.get("operationState") or {}
        return cls(at, app["metadata"]["name"], (st.get("sync") or {}).get("status", ""),
                   (st.get("health") or {}).get("status", ""), op.get("phase", ""),
                   int(op.get("retryCount") or 0), op.get("message", ""), app)

    def resource(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((r for r in (self.body.get("status") or {}).get("resources") or []
                     if r.get("kind") == kind and r.get("name") == name), None)


def _client(kubeconfig: Path) -> tuple[str, ssl.SSLContext]:
    config = json.loads(kubeconfig.read_text())  # localcluster writes its kubeconfigs as JSON
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
    ctx.load_cert_chain(user["client-certificate"], user["client-key"])
    return cluster["server"], ctx


class AppWatch:
    """A background watch on the argocd namespace's Applications; `seen` grows as they change."""

    def __init__(self, kubeconfig: Path) -> None:
        self.server, self.ssl = _client(kubeconfig)
        self.seen: list[Seen] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="argo-app-watch")

    def start(self) -> AppWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def _get(self, path: str, timeout: float) -> Any:
        return urllib.request.urlopen(f"{self.server}{path}", context=self.ssl, timeout=timeout)

    def _record(self, app: dict[str, Any]) -> None:
        with self._lock:
            self.seen.append(Seen.of(time.monotonic(), app))

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    with self._get(APPS, 10) as rsp:
                        listing = json.load(rsp)
                    for app in listing["items"]:
                        self._record(app)
                    version = listing["metadata"]["resourceVersion"]
                # A short server-side timeout, so stop() is honoured within seconds.
                with self._get(f"{APPS}?watch=1&resourceVersion={version}&timeoutSeconds=5"
                               "&allowWatchBookmarks=true", 30) as rsp:
                    for line in rsp:
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":  # e.g. 410 Gone: list again
                            version = ""
                            break
                        version = obj["metadata"].get("resourceVersion", version)
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._record(obj)
            except OSError as e:
                self.errors.append(repr(e))
                time.sleep(0.5)

    def mark(self) -> int:
        """An index into `seen`: pass it to since() to look only at what came after."""
        with self._lock:
            return len(self.seen)

    def since(self, mark: int = 0, name: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen[mark:] if name is None or s.name == name]

    def latest(self, name: str) -> Seen | None:
        versions = self.since(0, name)
        return versions[-1] if versions else None
