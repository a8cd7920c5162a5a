"""A real Argo CD as local processes: redis, the repo server and the application controller (one
multi-call binary built by hack/install-argocd.sh), a git server, against a local control plane.

No API server, UI or Dex: what the repo server and controller need from them is created once in
the cluster (Argo CD's CRDs, argocd-cm with deploy/argocd/argocd-cm-patch.yaml applied the way
the README tells a user to, argocd-secret, argocd-rbac-cm, the `default` AppProject). Everything
this instance owns lives in one state directory (logs/, state.json, the git repository), so `down`
stops exactly the processes it started. The controller's metrics port has no address flag and
binds every interface: it is a free port like the others.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import localprocs
from localprocs import BIN_DIR, CACHE, REPO, pinned_versions

from .gitrepo import GitRepo

NAMESPACE = "argocd"
COMPONENTS = ("redis", "git-daemon", "repo-server", "application-controller")
# The multi-call binary's names (upstream dispatches on argv[0] the same way).
COMMANDS = ("argocd-application-controller", "argocd-repo-server", "argocd-git-ask-pass")
# Argo CD finds its settings by this label (its settings informer filters on it).
PART_OF = {"app.kubernetes.io/part-of": "argocd"}
TAG = "localargocd"


@dataclass(frozen=True)
class Parts:
    argocd: Path
    kustomize: Path
    crds: Path

    @classmethod
    def require(cls) -> Parts:
        v = pinned_versions()
        parts = cls(argocd=BIN_DIR / f"argocd-{v['ARGOCD_VERSION']}",
                    kustomize=BIN_DIR / f"kustomize-{v['KUSTOMIZE_VERSION']}",
                    crds=CACHE / f"argocd-crds-{v['ARGOCD_VERSION']}")
        missing = [str(p) for p in (parts.argocd, parts.kustomize, parts.crds / "application-crd.yaml")
                   if not p.exists()]
        if missing or not shutil.which("redis-server"):
            raise FileNotFoundError(f"missing Argo CD parts {missing or ['redis-server']}: run "
                                    "`make argocd` (bash hack/install-argocd.sh) first")
        return parts


@dataclass
class ArgoCD:
    """One Argo CD rooted at `state_dir`, deploying into the cluster of `kubeconfig`."""

    state_dir: Path
    kubeconfig: Path
    app_resync_seconds: int = 30

    @property
    def _procs(self) -> localprocs.ProcessGroup:
        return localprocs.ProcessGroup(self.state_dir, COMPONENTS, TAG)

    @property
    def logs(self) -> Path:
        return self._procs.logs

    @property
    def git(self) -> GitRepo:
        return GitRepo(self.state_dir / "git")

    @property
    def repo_url(self) -> str:
        return self.git.url(self._procs.state()["ports"]["git"])

    # ---- public -------------------------------------------------------------------------------

    def running(self) -> bool:
        return self._procs.all_alive()

    def up(self, timeout: float = 90.0) -> None:
        if self.running():
            localprocs.log(TAG, f"already running; git repository {self.repo_url}")
            return
        procs = self._procs
        started = time.monotonic()
        parts = Parts.require()
        state = procs.create(("redis", "git", "repo", "repo_metrics", "controller_metrics"))
        ports = state["ports"]
        bin_dir = self._link_commands(parts)
        try:
            self._bootstrap_cluster(parts)
            self.git.create()
            procs.start(state, "redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(ports["redis"]),
                                         "--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            procs.adopt(state, "git-daemon", self.git.serve(ports["git"], procs.log_of("git-daemon")))
            env = self._env(bin_dir)
            procs.start(state, "repo-server", [
                str(bin_dir / "argocd-repo-server"), "--address", "127.0.0.1", "--port", str(ports["repo"]),
                "--metrics-address", "127.0.0.1", "--metrics-port", str(ports["repo_metrics"]),
                "--redis", f"127.0.0.1:{ports['redis']}", "--disable-tls",
                # Polling finds a new commit within app-resync (+ jitter) + this, not 3 minutes more.
                "--revision-cache-expiration", "10s", "--loglevel", "info"], env=env)
            procs.start(state, "application-controller", [
                str(bin_dir / "argocd-application-controller"), "--kubeconfig", str(self.kubeconfig),
                "--namespace", NAMESPACE, "--redis", f"127.0.0.1:{ports['redis']}",
                "--repo-server", f"127.0.0.1:{ports['repo']}", "--repo-server-plaintext",
                "--metrics-port", str(ports["controller_metrics"]),
                "--app-resync", str(self.app_resync_seconds), "--self-heal-timeout-seconds", "0",
                # Per-resource health (and our Lua script's message) in Application.status.resources.
                "--persist-resource-health", "--loglevel", "info"], env=env)
            procs.wait(state, lambda: localprocs.http_ok(f"http://127.0.0.1:{ports['repo_metrics']}/metrics"), timeout,
                       "the repo server")
            procs.wait(state, lambda: localprocs.http_ok(f"http://127.0.0.1:{ports['controller_metrics']}/healthz"),
                       timeout, "the application controller")
        except BaseException:
            localprocs.log(TAG, f"start-up failed: logs are in {self.logs}")
            raise
        localprocs.log(TAG, f"up in {time.monotonic() - started:.1f}s; git repository {self.repo_url}")

    def down(self, quiet: bool = False) -> None:
        self._procs.stop_all(quiet)

    def status(self) -> str:
        if not self._procs.state():
            return f"no Argo CD in {self.state_dir}"
        return "\n".join([f"state: {self.state_dir}", f"git repository: {self.repo_url}",
                          f"cluster: {self.kubeconfig}", *self._procs.status_lines()])

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each process, for the README's figures."""
        out: dict[str, float] = {}
        for name, pid in self._procs.state().get("pids", {}).items():
            try:
                kib = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                           if line.startswith("VmRSS:"))
                out[name] = kib / 1024
            except (OSError, StopIteration):
                pass
        return out

    # ---- the cluster side -----------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """kubectl's stdout against this instance's cluster; a failure raises localprocs.KubectlError."""
        return localprocs.kubectl(*args, kubeconfig=self.kubeconfig, input=input, timeout=120).stdout

    def _bootstrap_cluster(self, parts: Parts) -> None:
        """What Argo CD's install manifest would create, minus the Deployments: the CRDs (too big
        for client-side apply), the settings ConfigMaps and Secret, the default project."""
        self.kubectl("apply", "--server-side", "-f", str(parts.crds / "application-crd.yaml"),
                     "-f", str(parts.crds / "appproject-crd.yaml"))
        docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
        for kind, name in (("ConfigMap", "argocd-cm"), ("ConfigMap", "argocd-rbac-cm"), ("Secret", "argocd-secret")):
            meta = {"name": name, "namespace": NAMESPACE, "labels": {**PART_OF, "app.kubernetes.io/name": name}}
            docs.append({"apiVersion": "v1", "kind": kind, "metadata": meta})
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
        # Exactly the README's install step for our health checks.
        self.kubectl("-n", NAMESPACE, "patch", "configmap", "argocd-cm", "--patch-file",
                     str(REPO / "deploy" / "argocd" / "argocd-cm-patch.yaml"))
        localprocs.wait_for(lambda: self._crd_established("applications.argoproj.io")
                            and self._crd_established("appprojects.argoproj.io"),
                            timeout=60, message="Argo CD's CRDs Established")
        project = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                   "metadata": {"name": "default", "namespace": NAMESPACE},
                   "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}}
        self.kubectl("apply", "-f", "-", input=json.dumps(project))

    def _crd_established(self, name: str) -> bool:
        # Polled, not `kubectl wait`: right after creation the CRD may have no conditions yet.
        crd = json.loads(self.kubectl("get", "crd", name, "-o", "json"))
        return any(c["type"] == "Established" and c["status"] == "True"
                   for c in crd.get("status", {}).get("conditions", []))

    # ---- processes ----------------------------------------------------------------------------

    def _link_commands(self, parts: Parts) -> Path:
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir()
        for name in COMMANDS:
            (bin_dir / name).symlink_to(parts.argocd)
        (bin_dir / "kustomize").symlink_to(parts.kustomize)
        return bin_dir

    def _env(self, bin_dir: Path) -> dict[str, str]:
        data = self.state_dir / "data"
        paths = {"ARGOCD_TLS_DATA_PATH": data / "tls", "ARGOCD_SSH_DATA_PATH": data / "ssh",
                 "ARGOCD_GNUPGHOME": data / "gnupg", "ARGOCD_GPG_DATA_PATH": data / "gpg",
                 "TMPDIR": data / "tmp"}
        for p in paths.values():
            p.mkdir(parents=True, exist_ok=True)
        return {**os.environ, **{k: str(v) for k, v in paths.items()},
                "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
                # The in-cluster destination (https://kubernetes.default.svc) then means KUBECONFIG.
                "ARGOCD_FAKE_IN_CLUSTER": "true", "KUBECONFIG": str(self.kubeconfig),
                "ARGOCD_GPG_ENABLED": "false"}

__all__ = ["NAMESPACE", "PART_OF", "ArgoCD"]
