"""deploy/overlays/namespaced on the real control plane: a Role in one namespace is enough."""
from __future__ import annotations

import pytest
import yaml

from tests.support.kube import kubectl, kubectl_json, wait_ready

from .conftest import REPO, RunningOperator, rbac_denials

SAMPLE = REPO / "samples/cpu-detector.yaml"
# Cluster-scoped reads a Role cannot grant; kopf logs them once and carries on (documented in
# deploy/overlays/namespaced/role.yaml).


@pytest.mark.cluster
def test_namespaced_operator_serves_a_sample_in_its_own_namespace_with_a_role(
        namespaced_operator: RunningOperator):
    namespace = namespaced_operator.namespace
    labels = kubectl_json("get", "namespace", namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    name = yaml.safe_load(SAMPLE.read_text())["metadata"]["name"]
    kubectl("apply", "-n", namespace, "-f", str(SAMPLE))

    # A namespaced operator skips kopf's cluster-wide scan, so the Role is enough from the start:
    # no 403 at all, and Ready as quickly as with the ClusterRole.
    (obj,) = wait_ready(namespace, name, timeout=60)
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    denials = rbac_denials(namespaced_operator.log_text())
    assert not denials, "\n".join(denials[:5])


@pytest.mark.cluster
def test_namespaced_operator_token_reaches_no_other_namespace(
        namespaced_operator: RunningOperator, namespace: str):
    own = namespaced_operator.sa_kubectl("get", "objectdetectors", "-n", namespaced_operator.namespace)
    assert own.returncode == 0
    for args in (["objectdetectors", "-n", namespace], ["objectdetectors", "-A"],
                 ["secrets", "-n", namespaced_operator.namespace]):
        result = namespaced_operator.sa_kubectl("get", *args, check=False)
        assert result.returncode != 0 and "Forbidden" in result.stderr, (args, result.stderr)
