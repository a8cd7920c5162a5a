"""A local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)."""
from .cluster import Cluster

__all__ = ["Cluster"]
