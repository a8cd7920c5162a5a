"""Where the pinned control-plane binaries live (built by hack/install-tools.sh)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from localprocs import BIN_DIR, pinned_versions


@dataclass(frozen=True)
class Binaries:
    etcd: str
    kube_apiserver: str
    kube_controller_manager: str
    kube_scheduler: str
    kwok: str

    @classmethod
    def require(cls) -> Binaries:
        v = pinned_versions()
        k8s = v["K8S_VERSION"]
        paths = cls(etcd=str(BIN_DIR / f"etcd-{v['ETCD_VERSION']}"),
                    kube_apiserver=str(BIN_DIR / f"kube-apiserver-{k8s}"),
                    kube_controller_manager=str(BIN_DIR / f"kube-controller-manager-{k8s}"),
                    kube_scheduler=str(BIN_DIR / f"kube-scheduler-{k8s}"),
                    kwok=str(BIN_DIR / f"kwok-{v['KWOK_VERSION']}"))
        missing = [p for p in vars(paths).values() if not os.access(p, os.X_OK)]
        if missing:
            raise FileNotFoundError(f"missing control-plane binaries {missing}: run `make tools` "
                                    "(bash hack/install-tools.sh) first")
        return paths
