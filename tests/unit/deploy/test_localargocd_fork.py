"""The fork the GitOps tests and the demo publish: deploy/ and crds/ as they are here, with only
the Applications' repoURL changed (what deploy/argocd/root.yaml tells a forking user to do)."""
from __future__ import annotations

import difflib
import subprocess

from localargocd import GitRepo, fork

from .conftest import REPO

LOCAL = "git://127.0.0.1:9/detector-operator.git"


def test_point_at_changes_only_upstream_repo_urls():
    text = "spec:\n  source:\n    repoURL: {up}\n  other:\n    repoURL: https://example.com/else.git\n"
    changed = fork.point_at(text.format(up=fork.upstream_url()), LOCAL)
    assert changed == text.format(up=LOCAL)
    assert "https://example.com/else.git" in changed


def test_publish_commits_both_trees_differing_only_in_repo_url(tmp_path):
    git = GitRepo(tmp_path)
    git.create()
    sha = fork.publish(git, LOCAL)
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", sha], cwd=git.bare, text=True,
                           capture_output=True, check=True).stdout.split()
    ours = sorted(str(p.relative_to(REPO)) for tree in fork.TREES for p in (REPO / tree).rglob("*") if p.is_file())
    assert sorted(files) == ours
    changed_lines = []
    for rel in ours:
        diff = difflib.unified_diff((REPO / rel).read_text().splitlines(), git.read(rel).splitlines(), lineterm="", n=0)
        changed_lines += [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed_lines and all("repoURL:" in line for line in changed_lines)
    assert sum(line.startswith("+") for line in changed_lines) == 3  # root.yaml and apps/*.yaml
