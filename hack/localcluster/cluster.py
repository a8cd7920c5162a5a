"""A real Kubernetes control plane as local processes: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (simulated nodes), all on 127.0.0.1 free ports, no Docker.

Everything a cluster owns lives in one state directory (certs, etcd data, logs, PIDs, kubeconfig),
so `down` stops exactly the processes it started and removes exactly what it wrote.

Why not kwokctl (evaluated 2026-12 with kwokctl v0.8.0 `--runtime binary` and our binaries): it
does start a cluster from given binary paths in ~3 s, with RBAC, admission and several clusters
at once. But it binds etcd, the API server and the controllers to 0.0.0.0 (its etcd URLs are
written into every component's flags, so loopback-only needs a duplicate flag per component), every
component authenticates with one system:masters certificate (our controller-manager runs each
controller under its own ServiceAccount, so RBAC is exercised as in a real cluster), ServiceAccount
admission races fresh test namespaces unless disabled again, and the GPU nodes, failure stages and
audit policy would still be ours to supply. What it would save (the PKI and process start-up, ~200
lines) is less than what its configuration layer would add, so the control plane stays here.
"""
from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import localprocs

from . import pki
from .versions import Binaries

HERE = Path(__file__).resolve().parent
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of the range
POD_CIDR = "10.244.0.0/16"

# Who each component is to RBAC: (user, group). Admin is cluster-admin via system:masters; the
# controller-manager and scheduler get exactly their built-in roles; kwok plays every kubelet.
CLIENTS = {
    "admin": ("admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("kwok-controller", "system:masters"),
}
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
TAG = "localcluster"


@dataclass
class Cluster:
    """One control plane rooted at `state_dir`; `kubeconfig` is what clients use."""

    state_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        """One JSON line per list, watch or write a client made (hack/localcluster/audit-policy.yaml)."""
        return self.state_dir / "logs" / "audit.log"

    @property
    def _pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def _procs(self) -> localprocs.ProcessGroup:
        return localprocs.ProcessGroup(self.state_dir, COMPONENTS, TAG)

    @property
    def _logs(self) -> Path:
        return self._procs.logs

    def _apiserver_port(self) -> int:
        return self._procs.state()["ports"]["apiserver"]

    # ---- public -------------------------------------------------------------------------------

    def running(self) -> bool:
        return self._procs.all_alive() and self._readyz(self._apiserver_port())

    def up(self, timeout: float = 120.0) -> None:
        if self.running():
            localprocs.log(TAG, f"already running; KUBECONFIG={self.kubeconfig}")
            return
        procs = self._procs
        started = time.monotonic()
        bins = Binaries.require()
        state = procs.create(("etcd", "etcd_peer", "apiserver", "cm", "scheduler", "kwok"))
        ports = state["ports"]
        pki.make_pki(self._pki, CLIENTS, SERVICE_IP)
        server = f"https://127.0.0.1:{ports['apiserver']}"
        for name in CLIENTS:
            self._write_kubeconfig(self.state_dir / f"{name}.kubeconfig", server, name)
        shutil.copy(self.state_dir / "admin.kubeconfig", self.kubeconfig)

        try:
            procs.start(state, "etcd", self._etcd_cmd(bins, ports))
            procs.wait(state, lambda: localprocs.http_ok(f"http://127.0.0.1:{ports['etcd']}/health"), 30, "etcd")
            procs.start(state, "kube-apiserver", self._apiserver_cmd(bins, ports))
            procs.wait(state, lambda: self._readyz(ports["apiserver"]), timeout, "kube-apiserver")
            procs.start(state, "kube-controller-manager", self._cm_cmd(bins, ports))
            procs.start(state, "kube-scheduler", self._scheduler_cmd(bins, ports))
            procs.start(state, "kwok", self._kwok_cmd(bins, ports))
            self._register_nodes()
            procs.wait(state, self._nodes_ready, timeout, "4 Ready nodes")
            procs.wait(state, self._default_sa_exists, timeout, "the default ServiceAccount")
        except BaseException:
            localprocs.log(TAG, f"start-up failed: logs are in {self._logs}")
            raise
        localprocs.log(TAG, f"up in {time.monotonic() - started:.1f}s: {server}")
        localprocs.log(TAG, f"export KUBECONFIG={self.kubeconfig}")

    def down(self, quiet: bool = False) -> None:
        self._procs.stop_all(quiet)

    def status(self) -> str:
        if not self._procs.state():
            return f"no cluster in {self.state_dir}"
        port = self._apiserver_port()
        return "\n".join([f"state: {self.state_dir}", f"kubeconfig: {self.kubeconfig}",
                          f"api server: https://127.0.0.1:{port} ({'ready' if self._readyz(port) else 'NOT ready'})",
                          *self._procs.status_lines()])

    # ---- command lines ------------------------------------------------------------------------

    def _etcd_cmd(self, bins: Binaries, p: dict) -> list[str]:
        client, peer = f"http://127.0.0.1:{p['etcd']}", f"http://127.0.0.1:{p['etcd_peer']}"
        return [bins.etcd, "--name=local", f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=local={peer}", "--unsafe-no-fsync", "--log-level=warn",
                "--quota-backend-bytes=4294967296"]

    def _apiserver_cmd(self, bins: Binaries, p: dict) -> list[str]:
        k = self._pki
        return [bins.kube_apiserver, f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={p['apiserver']}",
                f"--cert-dir={self.state_dir / 'apiserver-certs'}",
                f"--tls-cert-file={k / 'apiserver.crt'}", f"--tls-private-key-file={k / 'apiserver.key'}",
                f"--client-ca-file={k / 'ca.crt'}", "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={k / 'sa.pub'}",
                f"--service-account-signing-key-file={k / 'sa.key'}",
                # ServiceAccount admission would make pod creation wait for the namespace's default
                # SA (a race in fresh test namespaces); PodSecurity stays on (it is on by default).
                "--disable-admission-plugins=ServiceAccount",
                # Nothing in-cluster dials the `kubernetes` Service (nodes are simulated), and the
                # endpoint reconciler refuses a loopback advertise address.
                "--endpoint-reconciler-type=none",
                # What clients asked, for tests and benchmarks (see audit-policy.yaml).
                f"--audit-policy-file={HERE / 'audit-policy.yaml'}", f"--audit-log-path={self.audit_log}",
                "--audit-log-maxsize=200", "--audit-log-maxbackup=1", "--audit-log-mode=batch",
                "--audit-log-batch-max-wait=1s",
                "--allow-privileged=true", "--profiling=false", "--v=1"]

    def _cm_cmd(self, bins: Binaries, p: dict) -> list[str]:
        kc = str(self.state_dir / "controller-manager.kubeconfig")
        return [bins.kube_controller_manager, f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}", "--leader-elect=false", "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self._pki / 'sa.key'}",
                f"--root-ca-file={self._pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={self._pki / 'ca.crt'}",
                f"--cluster-signing-key-file={self._pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--bind-address=127.0.0.1", f"--secure-port={p['cm']}", "--profiling=false", "--v=1"]

    def _scheduler_cmd(self, bins: Binaries, p: dict) -> list[str]:
        kc = self.state_dir / "scheduler.kubeconfig"
        config = self.state_dir / "scheduler.yaml"
        config.write_text(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
            f"clientConnection:\n  kubeconfig: {kc}\nleaderElection:\n  leaderElect: false\n")
        return [bins.kube_scheduler, f"--config={config}", f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}", "--bind-address=127.0.0.1",
                f"--secure-port={p['scheduler']}", "--profiling=false", "--v=1"]

    def _kwok_cmd(self, bins: Binaries, p: dict) -> list[str]:
        return [bins.kwok, f"--kubeconfig={self.state_dir / 'kwok.kubeconfig'}",
                f"--config={HERE / 'kwok-stages.yaml'}",
                "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1", f"--cidr={POD_CIDR}", "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{p['kwok']}"]

    # ---- API checks ---------------------------------------------------------------------------

    def _write_kubeconfig(self, path: Path, server: str, client: str) -> None:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "local",
            "clusters": [{"name": "local", "cluster": {"server": server,
                                                        "certificate-authority": str(self._pki / "ca.crt")}}],
            "users": [{"name": client, "user": {"client-certificate": str(self._pki / f"{client}.crt"),
                                                "client-key": str(self._pki / f"{client}.key")}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": client}}],
        }, indent=2))
        path.chmod(0o600)

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self._pki / "ca.crt"))
        ctx.load_cert_chain(self._pki / "admin.crt", self._pki / "admin.key")
        return ctx

    def _get(self, path: str) -> tuple[int, bytes]:
        port = self._apiserver_port()
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=self._ssl(), timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return 0, b""

    def _readyz(self, port: int) -> bool:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=self._ssl(), timeout=3) as r:
                return r.status == 200
        except (OSError, ssl.SSLError):
            return False

    def _register_nodes(self) -> None:
        # `create`, not `apply`: Node create keeps the status we send (capacity, nvidia.com/gpu),
        # which an apply would drop.
        r = localprocs.kubectl("create", "-f", str(HERE / "nodes.yaml"), kubeconfig=self.kubeconfig, check=False)
        if r.returncode != 0 and "AlreadyExists" not in r.stderr:
            raise RuntimeError(f"registering nodes failed: {r.stderr}")

    def _nodes_ready(self) -> bool:
        code, body = self._get("/api/v1/nodes")
        if code != 200:
            return False
        nodes = json.loads(body)["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in n.get("status", {}).get("conditions", []))]
        return len(ready) >= 4

    def _default_sa_exists(self) -> bool:
        return self._get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200


__all__ = ["Cluster"]
