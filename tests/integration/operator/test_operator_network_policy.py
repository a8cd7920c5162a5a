"""The detector's NetworkPolicy on the real API server: what builders.network_policy emits is a
valid networking.k8s.io/v1 object, kept as built, and the CRD refuses peers a NetworkPolicy cannot
hold. Enforcement (packets refused) needs a CNI that implements NetworkPolicy: the local control
plane has none (kwok runs no pods), so it is proven on the kind cluster, not here."""
from __future__ import annotations

import json

import pytest

from detector_operator import builders, models
from detector_operator.settings import Settings
from localprocs import wait_for
from tests.support.kube import apply, detector, kubectl, kubectl_json


def built(namespace: str, od: dict) -> dict:
    """Apply `od` (no operator needed), then the NetworkPolicy the builder makes for it."""
    apply(namespace, od)
    stored = kubectl_json("get", "od", od["metadata"]["name"], "-n", namespace)
    owner = builders.Owner(stored["metadata"]["name"], namespace, stored["metadata"]["uid"])
    obj = builders.network_policy(owner, models.parse_spec(stored["spec"]), Settings())
    assert obj is not None
    kubectl("apply", "--server-side", "--field-manager=detector-operator", "-f", "-", input=json.dumps(obj))
    return obj


@pytest.mark.cluster
@pytest.mark.parametrize("network_policy", [
    None,
    {"allowFrom": [{"namespaceSelector": {"matchLabels": {"team": "web"}},
                    "podSelector": {"matchLabels": {"app": "ui"}}},
                   {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
     "egress": [{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [443]}]},
    {"allowFrom": [], "egress": []},
], ids=["default", "peers-and-egress", "closed"])
def test_the_built_network_policy_is_accepted_and_stored_as_built(crds, namespace, network_policy):
    spec = {"networkPolicy": network_policy} if network_policy is not None else {}
    obj = built(namespace, detector("guarded", **spec))
    stored = kubectl_json("get", "networkpolicy", "guarded-detector", "-n", namespace)
    assert stored["spec"] == obj["spec"]
    assert stored["metadata"]["labels"] == obj["metadata"]["labels"]
    assert stored["metadata"]["ownerReferences"][0]["name"] == "guarded"


@pytest.mark.cluster
def test_a_hand_edit_moves_the_network_policys_generation(crds, namespace):
    # The drift rule of a NetworkPolicy child (views.GenerationView): generation, as for Deployments.
    built(namespace, detector("guarded"))
    before = kubectl_json("get", "networkpolicy", "guarded-detector", "-n", namespace)["metadata"]["generation"]
    kubectl("patch", "networkpolicy", "guarded-detector", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"ingress": [{}]}}))
    after = kubectl_json("get", "networkpolicy", "guarded-detector", "-n", namespace)["metadata"]["generation"]
    assert after == before + 1


@pytest.mark.cluster
@pytest.mark.parametrize(("peer", "message"), [
    ({}, "a peer needs a namespaceSelector, a podSelector or an ipBlock"),
    ({"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}, "an ipBlock peer stands alone"),
])
def test_the_crd_refuses_peers_a_network_policy_cannot_hold(crds, namespace, peer, message):
    result = apply(namespace, detector("bad", networkPolicy={"allowFrom": [peer]}), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr


def network_policy_spec(namespace: str, name: str) -> dict | None:
    found = kubectl("get", "networkpolicy", f"{name}-detector", "-n", namespace, "-o", "json", check=False)
    return json.loads(found.stdout)["spec"] if found.returncode == 0 else None


@pytest.mark.cluster
def test_the_operator_keeps_each_detectors_network_policy_and_deletes_it_when_switched_off(operator, namespace):
    # A child of the table (children.NETWORK_POLICY): applied with the detector, put back after a
    # hand edit, deleted when the spec switches it off, and applied again when it switches it on.
    apply(namespace, detector("guarded"))
    wait_for(lambda: network_policy_spec(namespace, "guarded"), timeout=60, message="the NetworkPolicy")
    built_spec = network_policy_spec(namespace, "guarded")
    assert built_spec["podSelector"]["matchLabels"]["vision.mlops.dev/detector"] == "guarded"
    assert built_spec["ingress"][0]["from"] == [{"podSelector": {}}]  # the same namespace by default

    kubectl("patch", "networkpolicy", "guarded-detector", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"ingress": [{}]}}))  # opens it to everyone
    wait_for(lambda: network_policy_spec(namespace, "guarded") == built_spec, timeout=30,
             message="the hand-edited NetworkPolicy put back")

    apply(namespace, detector("guarded", networkPolicy={"enabled": False}))
    wait_for(lambda: network_policy_spec(namespace, "guarded") is None, timeout=30,
             message="the NetworkPolicy deleted once switched off")
    apply(namespace, detector("guarded"))
    wait_for(lambda: network_policy_spec(namespace, "guarded") == built_spec, timeout=30,
             message="the NetworkPolicy back once switched on")
