"""The detector's NetworkPolicy: who may reach the inference ports, /metrics, and where the pods
may connect. Pure builder against expected manifests (applied to the real API server in
tests/integration/operator/test_operator_network_policy.py)."""
from __future__ import annotations

from detector_operator import builders, models
from detector_operator.settings import Settings

OWNER = builders.Owner(name="street-cams", namespace="vision", uid="uid-1")
SETTINGS = Settings()
INFERENCE_PORTS = [{"port": "http", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}]
MONITORING = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
              "ports": [{"port": "http", "protocol": "TCP"}]}


def policy(settings: Settings = SETTINGS, **network_policy):
    spec = {"modelUri": "gs://b/m.tar.gz"}
    if network_policy:
        spec["networkPolicy"] = network_policy
    return builders.network_policy(OWNER, models.parse_spec(spec), settings)


def test_by_default_only_the_same_namespace_reaches_the_inference_ports_and_monitoring_the_http_port():
    obj = policy()
    assert obj == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": builders.metadata(OWNER),
        "spec": {
            "podSelector": {"matchLabels": builders.selector_labels("street-cams")},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}], "ports": INFERENCE_PORTS}, MONITORING],
        },
    }
    # The ports are the pod's named container ports, whatever the Service's spec.port says.
    pod = builders.deployment(OWNER, models.parse_spec({"modelUri": "gs://b/m"}), SETTINGS)["spec"]["template"]["spec"]
    container_ports = {p["name"] for p in pod["containers"][0]["ports"]}
    assert {p["port"] for p in INFERENCE_PORTS} == container_ports


def test_opting_out_builds_nothing():
    assert policy(enabled=False) is None


def test_allow_from_replaces_the_same_namespace_default():
    peers = [{"namespaceSelector": {"matchLabels": {"team": "vision"}}},
             {"namespaceSelector": {"matchLabels": {"team": "web"}}, "podSelector": {"matchLabels": {"app": "ui"}}},
             {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]
    ingress = policy(allowFrom=peers)["spec"]["ingress"]
    assert ingress == [{"from": peers, "ports": INFERENCE_PORTS}, MONITORING]


def test_an_empty_allow_from_lets_only_monitoring_in():
    # An empty `from` in a NetworkPolicy rule would mean everybody: the rule is left out instead.
    assert policy(allowFrom=[])["spec"]["ingress"] == [MONITORING]


def test_the_monitoring_namespace_comes_from_the_operators_settings():
    settings = Settings.from_env({"DETECTOR_MONITORING_NAMESPACE_SELECTOR": "team=observability"})
    ingress = policy(settings)["spec"]["ingress"]
    assert ingress[1]["from"] == [{"namespaceSelector": {"matchLabels": {"team": "observability"}}}]
    assert policy(Settings.from_env({"DETECTOR_MONITORING_NAMESPACE_SELECTOR": ""}))["spec"]["ingress"] == [
        {"from": [{"podSelector": {}}], "ports": INFERENCE_PORTS}]


def test_egress_is_open_unless_restricted_then_dns_plus_the_rules():
    assert "egress" not in policy()["spec"]
    minio = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "minio"}}}
    spec = policy(egress=[{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [443]}, {"to": [minio]}])["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["egress"] == [
        {"to": [builders.DNS_PEER], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 443, "protocol": "TCP"}]},
        {"to": [minio]},
    ]
    # An empty list: DNS only (a pvc:// model downloads nothing).
    assert policy(egress=[])["spec"]["egress"] == [{"to": [builders.DNS_PEER], "ports": builders.DNS_PORTS}]
