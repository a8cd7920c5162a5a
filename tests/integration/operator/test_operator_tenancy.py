"""The operator's own tenancy checks on a cluster without the admission policy: what its settings
forbid is Ready=False/Forbidden with a Warning Event, and nothing is applied for it."""
from __future__ import annotations

import pytest

from tests.support.kube import apply, detector, kubectl, kubectl_json, wait_events, wait_reason

LABEL = "vision.mlops.dev/detector-credentials"


def no_deployment(namespace: str, name: str) -> bool:
    return kubectl("get", "deployment", f"{name}-detector", "-n", namespace, check=False).returncode != 0


def warning(namespace: str, name: str, reason: str) -> dict:
    found = [e for e in wait_events(namespace, name, reason) if e["reason"] == reason and e["type"] == "Warning"]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.cluster
def test_a_spec_the_settings_forbid_is_forbidden_with_an_event_and_no_children(operator, namespace):
    apply(namespace, detector("exfil", image="attacker/exfil:1", serviceType="LoadBalancer",
                              tolerations=[{"operator": "Exists"}]))
    ready = wait_reason(namespace, "exfil", "Forbidden")
    assert ready["status"] == "False"
    assert ready["message"].startswith(
        "spec.image 'attacker/exfil:1' is not from an allowed registry: images must start with "
        "registry.local/detector-server (the operator's DETECTOR_ALLOWED_REGISTRIES; ask your platform team); "
        "spec.serviceType LoadBalancer is not allowed: the operator allows ClusterIP")
    assert "spec.tolerations[0] (operator Exists without a key) tolerates every taint" in ready["message"]
    od = kubectl_json("get", "od", "exfil", "-n", namespace)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in od["status"]["conditions"]}
    assert conditions["Degraded"] == ("True", "Forbidden")
    assert warning(namespace, "exfil", "Forbidden")["message"] == ready["message"]
    assert no_deployment(namespace, "exfil")
    assert kubectl("get", "service", "exfil-detector", "-n", namespace, check=False).returncode != 0


@pytest.mark.cluster
def test_a_credentials_secret_needs_the_opt_in_label_and_labelling_it_is_enough(operator, namespace):
    kubectl("create", "secret", "generic", "prod-db-password", "-n", namespace,
            "--from-literal=PASSWORD=hunter2-not-for-detectors")
    apply(namespace, detector("creds", credentialsSecret="prod-db-password"))
    ready = wait_reason(namespace, "creds", "Forbidden")
    assert ready["message"] == (
        f"spec.credentialsSecret 'prod-db-password' lacks the label {LABEL}=true: only Secrets labelled for "
        "detectors may be used (label it if it is meant for them: kubectl label secret prod-db-password "
        f"{LABEL}=true)")
    assert no_deployment(namespace, "creds")
    # Nothing of the Secret's data anywhere the tenant can read.
    assert "hunter2" not in kubectl("get", "od,events", "-n", namespace, "-o", "yaml").stdout
    # Secrets are not watched: the operator looks again within 30 s.
    kubectl("label", "secret", "prod-db-password", "-n", namespace, f"{LABEL}=true")
    wait_reason(namespace, "creds", "Serving", timeout=75)
    pod = kubectl_json("get", "deployment", "creds-detector", "-n", namespace)["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "prod-db-password"}}]


@pytest.mark.cluster
def test_a_forbidden_change_leaves_the_serving_detector_as_it_was(operator, namespace):
    apply(namespace, detector("steady"))
    wait_reason(namespace, "steady", "Serving", timeout=90)
    before = kubectl_json("get", "deployment", "steady-detector", "-n", namespace)["metadata"]["generation"]
    apply(namespace, detector("steady", nodeSelector={"node-role.kubernetes.io/control-plane": ""}))
    ready = wait_reason(namespace, "steady", "Forbidden")
    assert ready["message"].startswith("spec.nodeSelector selects control-plane nodes")
    deployment = kubectl_json("get", "deployment", "steady-detector", "-n", namespace)
    assert deployment["metadata"]["generation"] == before
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"]
