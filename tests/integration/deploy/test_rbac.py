"""deploy/ against the real control plane: server-side dry-runs, and the RBAC proof."""
from __future__ import annotations

import pytest
import yaml

from tests.support.kube import kubectl, kubectl_json, wait_ready

from .conftest import REPO, RunningOperator, rbac_denials, render

SAMPLE = REPO / "samples/cpu-detector.yaml"


@pytest.mark.cluster
@pytest.mark.parametrize("overlay", ["production", "namespaced", "dev"])
def test_overlay_passes_server_side_dry_run(kubeconfig, operator_under_sa, overlay):
    objects = render(f"deploy/overlays/{overlay}")
    namespace = next(o for o in objects if o["kind"] == "Namespace")["metadata"]["name"]
    # A dry-run creates nothing, so objects inside a namespace the same dry-run "creates" would
    # be refused as NotFound: the namespace itself is created for real, and removed afterwards.
    created = kubectl("get", "namespace", namespace, check=False).returncode != 0
    if created:
        kubectl("create", "namespace", namespace)
    try:
        result = kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server",
                         "-f", "-", input=yaml.safe_dump_all(objects), check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("(server dry run)") == len(objects)
    finally:
        if created:
            kubectl("delete", "namespace", namespace, "--timeout=90s", check=False, timeout=100)


@pytest.mark.cluster
def test_argocd_detectors_folder_passes_server_side_dry_run(operator_under_sa, namespace):
    result = kubectl("apply", "--server-side", "--dry-run=server", "-n", namespace,
                     "-f", str(REPO / "deploy/argocd/detectors"), check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.cluster
def test_operator_under_its_service_account_serves_a_sample_in_a_restricted_namespace(
        operator_under_sa: RunningOperator, namespace: str):
    labels = kubectl_json("get", "namespace", namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    sample = yaml.safe_load(SAMPLE.read_text())
    name, replicas = sample["metadata"]["name"], sample["spec"]["replicas"]
    kubectl("apply", "-n", namespace, "-f", str(SAMPLE))

    (obj,) = wait_ready(namespace, name, timeout=90)
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert obj["status"]["readyReplicas"] == replicas
    # The server pods were admitted under PodSecurity restricted and run as the operator built them.
    pods = kubectl_json("get", "pods", "-n", namespace, "-l", f"vision.mlops.dev/detector={name}")["items"]
    assert len(pods) == replicas
    assert all(p["spec"]["securityContext"]["runAsNonRoot"] for p in pods)
    # Nothing the operator tried was refused by RBAC: deploy/ grants enough. (A 403 for writing
    # into a namespace being deleted is not RBAC, hence the precise wording.)
    denials = rbac_denials(operator_under_sa.log_text())
    assert not denials, "\n".join(denials[:5])


@pytest.mark.cluster
def test_operator_service_account_cannot_list_secrets(operator_under_sa: RunningOperator, namespace: str):
    # The same token works for what the operator needs ...
    assert operator_under_sa.sa_kubectl("get", "objectdetectors", "-n", namespace).returncode == 0
    # ... and may not list or watch Secrets, in a namespace or cluster-wide ...
    for scope in (["-n", namespace], ["-A"], ["-n", operator_under_sa.namespace]):
        result = operator_under_sa.sa_kubectl("get", "secrets", *scope, check=False)
        assert result.returncode != 0
        assert "Forbidden" in result.stderr and "cannot list resource \"secrets\"" in result.stderr, result.stderr
    # ... only get one by name (to read a credentialsSecret's opt-in label, as metadata).
    result = operator_under_sa.sa_kubectl("get", "secret", "anything", "-n", namespace, check=False)
    assert "NotFound" in result.stderr and "Forbidden" not in result.stderr, result.stderr


@pytest.mark.cluster
def test_operator_under_its_service_account_checks_a_credentials_secrets_label(
        operator_under_sa: RunningOperator, namespace: str):
    kubectl("create", "secret", "generic", "detector-s3", "-n", namespace, "--from-literal=AWS_ACCESS_KEY_ID=k")
    kubectl("label", "secret", "detector-s3", "-n", namespace, "vision.mlops.dev/detector-credentials=true")
    sample = yaml.safe_load(SAMPLE.read_text())
    sample["metadata"]["name"] = "with-creds"
    sample["spec"]["credentialsSecret"] = "detector-s3"
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(sample))
    wait_ready(namespace, "with-creds", timeout=90)
    pod = kubectl_json("get", "deployment", "with-creds-detector", "-n", namespace)["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "detector-s3"}}]
    denials = rbac_denials(operator_under_sa.log_text())
    assert not denials, "\n".join(denials[:5])
