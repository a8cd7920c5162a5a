"""What a user who forks this repository does before pointing Argo CD at the fork: the same
deploy/ and crds/ trees, with only the Applications' repoURL changed (deploy/argocd/root.yaml
says so). The tests and the demo publish exactly this to the local git server."""
from __future__ import annotations

import re

from localprocs import REPO

from .gitrepo import GitRepo

# deploy/base includes ../../crds, so the fork carries both trees.
TREES = ("deploy", "crds")
ROOT_APP = "deploy/argocd/root.yaml"
_REPO_URL = re.compile(r"^([ \t]*repoURL:[ \t]*)(\S+)[ \t]*$", re.MULTILINE)


def upstream_url() -> str:
    match = _REPO_URL.search((REPO / ROOT_APP).read_text())
    if not match:
        raise ValueError(f"{ROOT_APP} has no repoURL")
    return match.group(2)


def point_at(text: str, url: str) -> str:
    """`text` with every repoURL naming the upstream repository pointed at `url` instead."""
    upstream = upstream_url()
    return _REPO_URL.sub(lambda m: m.group(1) + (url if m.group(2) == upstream else m.group(2)), text)


def publish(git: GitRepo, url: str, message: str = "fork of detector-operator's deploy tree") -> str:
    """Copy deploy/ and crds/ into the repository, repoURL pointed at `url`; the commit's SHA."""
    for tree in TREES:
        git.copy_tree(REPO / tree, tree)
    for app in sorted((git.work / "deploy" / "argocd").rglob("*.yaml")):
        text = app.read_text()
        if "kind: Application" in text:
            app.write_text(point_at(text, url))
    return git.commit({}, message)


def root_application(git: GitRepo) -> str:
    """The root Application as the fork holds it: what the user applies by hand."""
    return git.read(ROOT_APP)
