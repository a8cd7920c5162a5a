"""A local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)."""
from .cluster import Cluster, kubectl_path

__all__ = ["Cluster", "kubectl_path"]
