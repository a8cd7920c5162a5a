"""The GitOps stack for tests and bench/gitops_latency.py: a fresh control plane, the operator as
a local process, a real Argo CD with a git server holding a fork of this repository's deploy tree,
the root Application applied as a user does; and what a test asks of it."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from localargocd import ArgoCD, GitRepo, fork
from localcluster import Cluster
from localprocs import wait_for

from .argo import AppWatch, Seen
from .kube import REPO, kubectl
from .operator_process import OperatorProcess

ROOT, OPERATOR_APP, DETECTORS_APP = "detector-operator-root", "detector-operator", "object-detectors"
APPS = (ROOT, OPERATOR_APP, DETECTORS_APP)
DETECTORS_NS = "object-detectors"
DETECTORS_DIR = "deploy/argocd/detectors"


@dataclass
class GitOps:
    cluster: Cluster
    argocd: ArgoCD
    operator: OperatorProcess | None
    watch: AppWatch
    root_applied_at: float = 0.0

    @property
    def git(self) -> GitRepo:
        return self.argocd.git

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return kubectl(*args, input=input, check=check, kubeconfig=self.cluster.kubeconfig)

    def get(self, *what: str, namespace: str = DETECTORS_NS) -> dict[str, Any]:
        return json.loads(self.kubectl("-n", namespace, "get", *what, "-o", "json").stdout)

    def exists(self, *what: str, namespace: str = DETECTORS_NS) -> bool:
        r = self.kubectl("-n", namespace, "get", *what, "-o", "name", "--ignore-not-found", check=False)
        return r.returncode == 0 and bool(r.stdout.strip())

    def app(self, name: str) -> Seen:
        return Seen.of(time.monotonic(), self.get(f"application/{name}", namespace="argocd"))

    def refresh(self, *names: str) -> None:
        """What a git webhook does (there is no Argo CD API server here): ask for a refresh now."""
        for name in names or APPS:
            self.kubectl("-n", "argocd", "annotate", f"application/{name}", "--overwrite",
                         "argocd.argoproj.io/refresh=normal")

    def commit(self, files: dict[str, str | None], message: str, *, refresh: bool = True) -> str:
        sha = self.git.commit(files, message)
        if refresh:
            self.refresh(DETECTORS_APP)
        return sha

    def wait_app(self, name: str, *, sync: str = "Synced", health: str = "Healthy", revision: str | None = None,
                 timeout: float = 120) -> Seen:
        def check() -> Seen | None:
            app = self.app(name)
            synced_to = (app.body.get("status") or {}).get("sync", {}).get("revision", "")
            ok = app.sync == sync and app.health == health and (revision is None or synced_to == revision)
            return app if ok else None
        return wait_for(check, timeout=timeout, interval=0.2,
                        message=f"application {name} {sync}/{health}{' at ' + revision[:8] if revision else ''} "
                                f"(controller log: {self.argocd.logs / 'application-controller.log'})")

    def wait_resource_health(self, kind: str, name: str, health: str, *, mark: int = 0, after: float = 0.0,
                             timeout: float = 120) -> Seen:
        """The first version of the detectors app after `mark` (and seen after `after`) whose
        status shows that health for the resource."""
        def check() -> Seen | None:
            return next((s for s in self.watch.since(mark, DETECTORS_APP) if s.at > after
                         and ((s.resource(kind, name) or {}).get("health") or {}).get("status") == health), None)
        return wait_for(check, timeout=timeout, interval=0.2, message=f"{kind} {name} {health} in Argo CD "
                                                                      f"(watch errors: {self.watch.errors[-3:]})")


def detector_manifest(name: str, **spec: Any) -> str:
    base = yaml.safe_load((REPO / DETECTORS_DIR / "ssd-mobilenet.yaml").read_text())
    base["metadata"]["name"] = name
    base["spec"].update(spec)
    return yaml.safe_dump(base, sort_keys=False)


@contextmanager
def running_tree(state_root: Path, log_dir: Path) -> Iterator[GitOps]:
    """Everything started under `state_root`, the root Application applied; all of it stopped and
    removed on exit. Its own cluster, never a shared one: the tree installs the CRD and
    cluster-wide RBAC, and pruning it would delete every other ObjectDetector."""
    cluster = Cluster(state_root / "cluster")
    argocd = ArgoCD(state_root / "argocd", cluster.kubeconfig)
    operator = watch = None
    try:
        cluster.up()
        argocd.up()
        fork.publish(argocd.git, argocd.repo_url)
        watch = AppWatch(cluster.kubeconfig).start()
        state = GitOps(cluster, argocd, None, watch)
        state.root_applied_at = time.monotonic()
        # The user's one hand-made step: the root Application, as the fork holds it.
        state.kubectl("apply", "-n", "argocd", "-f", "-", input=fork.root_application(argocd.git))
        # The operator (a local process standing in for the Deployment Argo CD applies, which
        # kwok only simulates) starts once its CRD is served, as that Deployment would (wave 0
        # after the CRDs' wave -1). Started earlier, kopf can miss the CRD for good: it looks
        # again only on CRD events, and discovery may lag the last of them.
        wait_for(lambda: state.kubectl("get", "objectdetectors", "-A", check=False).returncode == 0,
                 timeout=180, interval=0.5, message="the ObjectDetector CRD served (synced by Argo CD)")
        operator = state.operator = OperatorProcess(log_dir, env={"KUBECONFIG": str(cluster.kubeconfig)}).start()
        yield state
    finally:
        if watch:
            watch.stop()
        if operator:
            operator.stop()
        argocd.down(quiet=True)
        cluster.down(quiet=True)
        shutil.rmtree(state_root, ignore_errors=True)
