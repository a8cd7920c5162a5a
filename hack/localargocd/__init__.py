"""A real Argo CD (application controller, repo server, redis) and a local git server as local
processes against a local control plane (see argocd.py)."""
from .argocd import ArgoCD
from .gitrepo import GitRepo

__all__ = ["ArgoCD", "GitRepo"]
