"""One GitOps stack (tests/support/gitops.py) shared by the tests of this folder, on its own
control plane, stopped and removed afterwards."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.gitops import GitOps, running_tree
from tests.support.kube import REPO


@pytest.fixture(scope="module")
def gitops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitOps]:
    with running_tree(REPO / ".local" / f"gitops-{os.getpid()}", tmp_path_factory.mktemp("gitops-operator")) as state:
        yield state
