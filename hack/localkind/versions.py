"""The pinned parts of the kind cluster (hack/versions.env) and where install-kind.sh puts them."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from localprocs import BIN_DIR, CACHE, pinned_versions

HACK = Path(__file__).resolve().parent.parent
PAUSE_VERSION = "3.10-local1"  # hack/install-kind.sh's own pause program (its PAUSE_VERSION)
PATCHES = Path(__file__).resolve().parent / "patches"


@dataclass(frozen=True)
class Parts:
    kubernetes: str
    etcd: str
    kind_version: str
    containerd: str
    coredns: str
    distribution: str
    network_policies: str  # kube-network-policies, built with PATCHES' patch for it

    @property
    def network_policies_patch(self) -> Path:
        return PATCHES / f"kube-network-policies-{self.network_policies}-iptables-nfqueue.patch"

    @property
    def network_policies_build(self) -> str:
        """Version and patch, as hack/install-kind.sh names the binary: `v0.8.0-<sha256[:12]>`."""
        key = hashlib.sha256(self.network_policies_patch.read_bytes()).hexdigest()[:12]
        return f"{self.network_policies}-{key}"

    def binary(self, name: str, version: str) -> Path:
        return BIN_DIR / f"{name}-{version}"

    @property
    def kind(self) -> Path:
        return self.binary("kind", self.kind_version)

    @property
    def kind_files(self) -> Path:
        """kind's own node-image files (entrypoint, units, containerd config), from its module."""
        return CACHE / f"kind-base-files-{self.kind_version}"

    def node_binaries(self) -> dict[str, Path]:
        """What goes into the node image or its preloaded images, by name."""
        k = self.kubernetes
        return {
            "kubelet": self.binary("kubelet", k), "kubeadm": self.binary("kubeadm", k),
            "kubectl": self.binary("kubectl", k), "kube-proxy": self.binary("kube-proxy", k),
            "kube-apiserver": self.binary("kube-apiserver", k),
            "kube-controller-manager": self.binary("kube-controller-manager", k),
            "kube-scheduler": self.binary("kube-scheduler", k),
            "etcd": self.binary("etcd", self.etcd),
            "containerd": self.binary("containerd", self.containerd),
            "ctr": self.binary("ctr", self.containerd),
            "containerd-shim-runc-v2": self.binary("containerd-shim-runc-v2", self.containerd),
            "coredns": self.binary("coredns", self.coredns),
            "pause": self.binary("pause", PAUSE_VERSION),
            "kube-network-policies": self.binary("kube-network-policies", self.network_policies_build),
        }

    def require(self) -> None:
        wanted = [self.kind, *self.node_binaries().values()]
        missing = [str(p) for p in wanted if not os.access(p, os.X_OK)]
        if missing or not self.kind_files.is_dir():
            raise FileNotFoundError(f"missing kind parts {missing or [str(self.kind_files)]}: run "
                                    "`make kind-tools` (bash hack/install-kind.sh) first")


def parts() -> Parts:
    v = pinned_versions()
    return Parts(kubernetes=v["K8S_VERSION"], etcd=v["ETCD_VERSION"], kind_version=v["KIND_VERSION"],
                 containerd=v["CONTAINERD_VERSION"], coredns=v["COREDNS_VERSION"],
                 distribution=v["DISTRIBUTION_VERSION"], network_policies=v["KNP_VERSION"])
