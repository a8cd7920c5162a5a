"""One table of tenancy cases, run through both enforcers: the operator's own checks (policy.py,
unit tests) and the ValidatingAdmissionPolicy of deploy/components/tenancy on the real API server
(tests/integration/deploy/test_tenancy_policy.py). Both must refuse the same specs, naming the
same field, and admit the same allowed ones.

PARAMS is the policy's ConfigMap data for these tests; SETTINGS_ENV the operator's equivalent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REGISTRIES = "ghcr.io/vision-mlops/detector-server,registry.example.com/models"
SERVICE_ACCOUNTS = "model-reader,team-*"
ANNOTATIONS = "prometheus.io/*,sidecar.istio.io/inject"
SECRET_NAMES = "detector-*"

PARAMS = {
    "allowedRegistries": REGISTRIES,
    "allowedSecretNames": SECRET_NAMES,
    "allowedServiceAccounts": SERVICE_ACCOUNTS,
    "allowedPodAnnotations": ANNOTATIONS,
    "loadBalancerNamespaces": "",
    "nodePortNamespaces": "",
}
SETTINGS_ENV = {
    "DETECTOR_ALLOWED_REGISTRIES": REGISTRIES,
    "DETECTOR_ALLOWED_SERVICE_ACCOUNTS": SERVICE_ACCOUNTS,
    "DETECTOR_ALLOWED_POD_ANNOTATIONS": ANNOTATIONS,
    "DETECTOR_ALLOWED_SERVICE_TYPES": "ClusterIP",
}
BASE = {"modelUri": "gs://bucket/ssd.tar.gz"}


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict[str, Any]
    field: str  # the spec field both refusals name ("" for an allowed spec)


FORBIDDEN = [
    Case("image-from-docker-hub", {"image": "attacker/exfil:1"}, "spec.image"),
    Case("image-lookalike-registry", {"image": "ghcr.io/vision-mlops/detector-server-evil:1"}, "spec.image"),
    Case("image-lookalike-host", {"image": "registry.example.com.evil.io/models/x:1"}, "spec.image"),
    Case("load-balancer", {"serviceType": "LoadBalancer"}, "spec.serviceType"),
    Case("node-port", {"serviceType": "NodePort"}, "spec.serviceType"),
    Case("service-account", {"serviceAccountName": "cluster-admin-sa"}, "spec.serviceAccountName"),
    Case("annotation", {"podAnnotations": {"k8s.v1.cni.cncf.io/networks": "host-net"}}, "spec.podAnnotations"),
    Case("toleration-control-plane", {"tolerations": [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]},
        "spec.tolerations"),
    Case("toleration-wildcard", {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]},
         "spec.tolerations"),
    Case("toleration-wildcard-any-effect", {"tolerations": [{"operator": "Exists"}]}, "spec.tolerations"),
    Case("node-selector-control-plane", {"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}},
         "spec.nodeSelector"),
    Case("affinity-control-plane", {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "node-role.kubernetes.io/master", "operator": "Exists"}]}]}}}}, "spec.affinity"),
    Case("affinity-preferred-control-plane", {"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"matchExpressions": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "In", "values": [""]}]}}]}}},
        "spec.affinity"),
]
# Refused by the admission policy by name; the operator refuses the same Secret by its label.
FORBIDDEN_SECRET = Case("secret-name", {"credentialsSecret": "prod-db-password"}, "spec.credentialsSecret")
# The URI from a Secret key instead of modelUri (the test drops modelUri).
FORBIDDEN_URI_SECRET = Case("model-uri-secret-name", {
    "modelUri": None, "modelUriFrom": {"secretKeyRef": {"name": "prod-db-password", "key": "url"}}},
    "spec.modelUriFrom.secretKeyRef.name")

ALLOWED = Case("allowed", {
    "image": "ghcr.io/vision-mlops/detector-server:0.2.0-cpu",
    "serviceType": "ClusterIP",
    "serviceAccountName": "team-vision",
    "credentialsSecret": "detector-s3",
    "podAnnotations": {"prometheus.io/scrape": "true", "sidecar.istio.io/inject": "false"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "nodeSelector": {"topology.kubernetes.io/zone": "a"},
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]}]}}},
}, "")
