"""The operator's RBAC in every overlay is generated from its child kinds (`make rbac`) and must
not drift from them; the operator really runs under it in tests/integration/deploy."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from detector_operator import rbacgen

REPO = Path(__file__).resolve().parents[3]
FILES = {"cluster": REPO / "deploy/base/rbac.yaml", "namespaced": REPO / "deploy/overlays/namespaced/role.yaml"}


@pytest.mark.parametrize("scope", sorted(FILES))
def test_committed_rbac_matches_the_child_kinds(scope):
    assert FILES[scope].read_text() == rbacgen.render(scope), (
        f"{FILES[scope].relative_to(REPO)} is stale: run `make rbac` and commit the result")


@pytest.mark.parametrize("scope", sorted(FILES))
def test_generated_rbac_is_a_role_and_its_binding(scope):
    role, binding = yaml.safe_load_all(rbacgen.render(scope))
    assert role["kind"] == {"cluster": "ClusterRole", "namespaced": "Role"}[scope]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"],
                                  "name": role["metadata"]["name"]}
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]} in role["rules"]


def test_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="scope must be one of"):
        rbacgen.render("clusterwide")
