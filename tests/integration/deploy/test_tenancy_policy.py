"""The tenancy admission policy of deploy/components/tenancy on the real API server (CEL in
kube-apiserver itself, ValidatingAdmissionPolicy GA): the production overlay as a user applies it,
then ObjectDetectors through `kubectl apply`. The cases are tests/support/tenancy.py's, which the
operator's own checks are unit-tested with.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from localprocs import wait_for
from tests.support import tenancy
from tests.support.kube import CRD_NAME, REPO, apply, detector, kubectl, token_kubeconfig

from .conftest import render

OVERLAY = "deploy/overlays/production"
POLICY = "objectdetector-tenancy.vision.mlops.dev"
SCOPE = "detector-operator-scope.vision.mlops.dev"
CLUSTER_SCOPED = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterRole",
                  "ClusterRoleBinding")


def set_params(namespace: str, data: dict[str, str]) -> None:
    """What the platform team does: edit the params ConfigMap."""
    kubectl("patch", "configmap", "detector-tenancy", "-n", namespace, "--type=merge",
            "-p", json.dumps({"data": data}))


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The policy's message from a refused `kubectl apply`, or "" when it was admitted."""
    if result.returncode == 0:
        return ""
    assert f"ValidatingAdmissionPolicy '{POLICY}'" in result.stderr, result.stderr
    return result.stderr


# Seen with kube-apiserver v1.37.1: after the params' namespace is deleted and the policy, binding
# and ConfigMap are created again in one batch, admission keeps the old params and never sees an
# edit (like kubernetes/kubernetes#133827). A fresh control plane (what `make test` starts) has
# never had them; one reused from an earlier run of this module may.
STALE = ("params edit not seen by admission within 30 s: if this control plane ran this module "
         "before, kube-apiserver may hold stale params (kubernetes#133827); use a fresh one")


def admitted_after_change(namespace: str, obj: dict) -> None:
    """Admission reads params and policies from informers: a change takes effect within moments."""
    wait_for(lambda: kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                             input=json.dumps(obj), check=False).returncode == 0,
             timeout=30, message=f"{obj['metadata']['name']} admitted ({STALE})")


def refused_after_change(namespace: str, obj: dict) -> None:
    wait_for(lambda: kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                             input=json.dumps(obj), check=False).returncode != 0,
             timeout=30, message=f"{obj['metadata']['name']} refused ({STALE})")


@pytest.fixture(scope="module")
def installed(kubeconfig: str) -> Iterator[str]:
    """The production overlay applied as a user would; yields the operator's namespace. The
    policy is gone afterwards (it would judge other modules' detectors)."""
    objects = render(OVERLAY)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(objects))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    namespace = next(o for o in objects if o["kind"] == "Namespace")["metadata"]["name"]
    try:
        # Ready once the shipped policy and its shipped params refuse what they must.
        refused_after_change("default", detector("probe", image="attacker/exfil:1"))
        refused_after_change("default", detector("probe", serviceAccountName="team-vision"))
        yield namespace
    finally:
        for obj in objects:
            if obj["kind"] in CLUSTER_SCOPED:
                kubectl("delete", obj["kind"], obj["metadata"]["name"], "--ignore-not-found", check=False)
        kubectl("delete", "namespace", namespace, "--ignore-not-found", "--timeout=90s", check=False, timeout=100)


@pytest.fixture
def test_params(installed: str) -> Iterator[str]:
    """tests/support/tenancy.py's params for one test, the shipped ones back afterwards."""
    shipped = next(o for o in render(OVERLAY) if o["kind"] == "ConfigMap")["data"]
    set_params(installed, tenancy.PARAMS)
    admitted_after_change("default", detector("probe", **tenancy.ALLOWED.spec))
    yield installed
    set_params(installed, shipped)
    refused_after_change("default", detector("probe", serviceAccountName="team-vision"))


@pytest.mark.cluster
@pytest.mark.parametrize("case", [*tenancy.FORBIDDEN, tenancy.FORBIDDEN_SECRET, tenancy.FORBIDDEN_URI_SECRET],
                         ids=lambda c: c.id)
def test_each_forbidden_spec_is_refused_by_kubectl_apply_with_its_message(test_params, namespace, case):
    obj = detector("tenant", **case.spec)
    obj["spec"] = {k: v for k, v in obj["spec"].items() if v is not None}
    result = apply(namespace, obj, check=False)
    message = refused(result)
    assert message, f"{case.id} was admitted"
    assert case.field in message, message
    assert kubectl("get", "od", "tenant", "-n", namespace, check=False).returncode != 0


@pytest.mark.cluster
def test_messages_name_what_is_allowed_and_where(test_params, namespace):
    image = refused(apply(namespace, detector("t", image="attacker/exfil:1"), check=False))
    assert ("spec.image attacker/exfil:1 is not from an allowed registry: images must start with "
            "ghcr.io/vision-mlops/detector-server, registry.example.com/models "
            "(ConfigMap detector-tenancy, allowedRegistries; ask your platform team)") in image
    lb = refused(apply(namespace, detector("t", serviceType="LoadBalancer"), check=False))
    assert (f"spec.serviceType LoadBalancer is not allowed in namespace {namespace}: it is allowed in "
            "no namespace (ConfigMap detector-tenancy, loadBalancerNamespaces)") in lb
    secret = refused(apply(namespace, detector("t", credentialsSecret="prod-db-password"), check=False))
    assert ("spec.credentialsSecret prod-db-password is not a Secret detectors may use: allowed names are "
            "detector-* (ConfigMap detector-tenancy, allowedSecretNames), and the Secret must carry the "
            "label vision.mlops.dev/detector-credentials=true") in secret
    annotation = refused(apply(namespace, detector("t", podAnnotations={
        "prometheus.io/port": "8080", "k8s.v1.cni.cncf.io/networks": "x"}), check=False))
    assert "spec.podAnnotations k8s.v1.cni.cncf.io/networks not allowed: allowed keys are prometheus.io/*" in annotation


@pytest.mark.cluster
def test_the_allowed_spec_is_admitted_and_stored(test_params, namespace):
    apply(namespace, detector("tenant", **tenancy.ALLOWED.spec))
    stored = json.loads(kubectl("get", "od", "tenant", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["image"] == tenancy.ALLOWED.spec["image"]


@pytest.mark.cluster
def test_load_balancer_is_admitted_only_in_namespaces_the_params_name(test_params, namespace):
    lb = detector("public", serviceType="LoadBalancer")
    assert refused(apply(namespace, lb, check=False))
    set_params(test_params, {"loadBalancerNamespaces": f"other,{namespace}"})
    admitted_after_change(namespace, lb)
    apply(namespace, lb)
    # NodePort is its own switch.
    assert refused(apply(namespace, detector("port", serviceType="NodePort"), check=False))


@pytest.mark.cluster
@pytest.mark.parametrize("path", ["samples", "deploy/argocd/detectors"])
def test_the_shipped_params_admit_the_repositorys_own_detectors(installed, namespace, path):
    for file in sorted((REPO / path).glob("*.yaml")):
        result = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(file), check=False)
        assert result.returncode == 0, f"{file.name}: {result.stderr}"


@pytest.mark.cluster
def test_without_its_params_the_policy_refuses_every_detector(installed, namespace):
    kubectl("delete", "configmap", "detector-tenancy", "-n", installed)
    try:
        refused_after_change(namespace, detector("plain"))
        result = apply(namespace, detector("plain"), check=False)
        assert "no params found for policy binding" in result.stderr.lower() or "not found" in result.stderr, (
            result.stderr)
    finally:
        objects = [o for o in render(OVERLAY) if o["kind"] == "ConfigMap"]
        kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))
        admitted_after_change(namespace, detector("plain"))


@pytest.mark.cluster
def test_the_operators_account_cannot_write_into_the_clusters_own_namespaces(installed, namespace, tmp_path: Path):
    token = kubectl("create", "token", "detector-operator", "-n", installed, "--duration=10m").stdout.strip()
    config = token_kubeconfig(token, tmp_path / "operator.kubeconfig")
    deployment = ["create", "deployment", "x-detector", "--image=registry.local/x:1", "--dry-run=server"]
    # RBAC (a ClusterRole) allows it everywhere; the scope policy takes kube-system back out.
    result = kubectl(*deployment, "-n", "kube-system", kubeconfig=config, check=False)
    assert result.returncode != 0
    assert f"ValidatingAdmissionPolicy '{SCOPE}'" in result.stderr, result.stderr
    assert "the detector operator does not write deployments in namespace kube-system" in result.stderr
    service = kubectl("create", "service", "clusterip", "x-detector", "--tcp=80:80", "--dry-run=server",
                      "-n", "kube-public", kubeconfig=config, check=False)
    assert "does not write services in namespace kube-public" in service.stderr, service.stderr
    # A tenant namespace is still the operator's to write in.
    kubectl(*deployment, "-n", namespace, kubeconfig=config)
