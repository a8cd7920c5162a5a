"""What an ObjectDetector may ask of the operator: pure checks against the operator's settings.

Whoever may create an ObjectDetector must not borrow the operator's rights to run an image, a
ServiceAccount, a Secret, a node or a Service type that the platform team has not allowed. The
ValidatingAdmissionPolicy in deploy/components/tenancy refuses such specs at the API server (CEL,
rules and messages alike); these checks repeat them inside the operator, so they hold where that
policy is not installed. A refused spec gets Ready=False with reason Forbidden and a Warning Event,
and nothing is applied (children of an earlier, allowed spec are left as they are).

Only the Secret's opt-in label needs the API server (sync.py reads the Secret's metadata);
everything else is decided here from the spec, its namespace and the settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from detector_operator import models
from detector_operator.settings import ANY, Settings

# Labels and taints that mark control-plane nodes (kubeadm, kind, most distributions).
CONTROL_PLANE_KEYS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
ASK = "ask your platform team"


def name_allowed(name: str, patterns: Iterable[str]) -> bool:
    """patterns: exact names, prefixes ending in "*", or "*" alone for any name."""
    return any(name == p or (p.endswith(ANY) and name.startswith(p[:-1])) for p in patterns)


def image_allowed(image: str, prefixes: Iterable[str]) -> bool:
    """An image is allowed when it is a listed prefix or continues it at a boundary
    (`/`, `:` or `@`): `ghcr.io/acme` allows `ghcr.io/acme/x:1`, never `ghcr.io/acme-evil/x`."""
    for prefix in prefixes:
        prefix = prefix.rstrip("/")
        if prefix == ANY or image == prefix or any(image.startswith(prefix + sep) for sep in "/:@"):
            return True
    return False


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items) if items else "none"


def image_refusal(spec: models.ObjectDetectorSpec, settings: Settings) -> str | None:
    if spec.image is None or image_allowed(spec.image, settings.image_sources):
        return None
    return (f"spec.image {spec.image!r} is not from an allowed registry: images must start with "
            f"{_listed(settings.image_sources)} (the operator's DETECTOR_ALLOWED_REGISTRIES; {ASK})")


def service_type_refusal(spec: models.ObjectDetectorSpec, settings: Settings) -> str | None:
    allowed = settings.allowed_service_types
    if ANY in allowed or spec.service_type in allowed:
        return None
    return (f"spec.serviceType {spec.service_type} is not allowed: the operator allows "
            f"{_listed(allowed)} (DETECTOR_ALLOWED_SERVICE_TYPES; {ASK})")


def service_account_refusal(spec: models.ObjectDetectorSpec, settings: Settings) -> str | None:
    name = spec.service_account_name
    if name is None or name_allowed(name, settings.allowed_service_accounts):
        return None
    return (f"spec.serviceAccountName {name!r} is not allowed: the operator allows "
            f"{_listed(settings.allowed_service_accounts)} (DETECTOR_ALLOWED_SERVICE_ACCOUNTS; {ASK})")


def annotation_refusal(spec: models.ObjectDetectorSpec, settings: Settings) -> str | None:
    refused = sorted(k for k in spec.pod_annotations or {} if not name_allowed(k, settings.allowed_pod_annotations))
    if not refused:
        return None
    return (f"spec.podAnnotations {', '.join(refused)} not allowed: the operator allows "
            f"{_listed(settings.allowed_pod_annotations)} (DETECTOR_ALLOWED_POD_ANNOTATIONS; {ASK})")


def _node_affinity_terms(affinity: Mapping[str, Any] | None) -> list[tuple[str, Mapping[str, Any]]]:
    """(where, matchExpression) for every node-affinity expression, required and preferred."""
    node = (affinity or {}).get("nodeAffinity") or {}
    out: list[tuple[str, Mapping[str, Any]]] = []
    required = (node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    for i, term in enumerate(required):
        for j, expr in enumerate(term.get("matchExpressions") or []):
            out.append((f"required term {i} expression {j}", expr))
    for i, weighted in enumerate(node.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        for j, expr in enumerate((weighted.get("preference") or {}).get("matchExpressions") or []):
            out.append((f"preferred term {i} expression {j}", expr))
    return out


def placement_refusals(spec: models.ObjectDetectorSpec) -> list[str]:
    """Nothing that lets the pods onto control-plane nodes: the taint is the real guard (no pod
    lands there without tolerating it), the selectors make the intent plain."""
    out = []
    for i, tol in enumerate(spec.tolerations or []):
        if tol.key in CONTROL_PLANE_KEYS:
            out.append(f"spec.tolerations[{i}] tolerates the control-plane taint {tol.key}: "
                       "detectors never run on control-plane nodes")
        elif not tol.key and tol.operator == "Exists":
            out.append(f"spec.tolerations[{i}] (operator Exists without a key) tolerates every taint, "
                       "the control plane's included: name the taint's key")
    out.extend(f"spec.nodeSelector selects control-plane nodes ({key}): detectors never run there"
               for key in sorted(set(spec.node_selector or {}) & set(CONTROL_PLANE_KEYS)))
    for where, expr in _node_affinity_terms(spec.affinity):
        if expr.get("key") in CONTROL_PLANE_KEYS and expr.get("operator") != "DoesNotExist":
            out.append(f"spec.affinity.nodeAffinity ({where}) selects control-plane nodes "
                       f"({expr.get('key')} {expr.get('operator')}): only DoesNotExist is allowed on that key")
    return out


def referenced_secrets(spec: models.ObjectDetectorSpec) -> list[tuple[str, str]]:
    """(field, Secret name) for every Secret the pods would read."""
    found = [("spec.credentialsSecret", spec.credentials_secret)] if spec.credentials_secret else []
    if spec.model_uri_from is not None:
        found.append(("spec.modelUriFrom.secretKeyRef.name", spec.model_uri_from.secret_key_ref.name))
    return found


def refusals(spec: models.ObjectDetectorSpec, settings: Settings) -> list[str]:
    """Every reason the settings forbid this spec, in a fixed order; empty when it is allowed."""
    found = [image_refusal(spec, settings), service_type_refusal(spec, settings),
             service_account_refusal(spec, settings), annotation_refusal(spec, settings)]
    return [m for m in found if m] + placement_refusals(spec)


def secret_refusal(field: str, name: str, namespace: str, labels: Mapping[str, str] | None,
                   label: tuple[str, str]) -> str | None:
    """labels: the Secret's labels, None when it does not exist."""
    key, value = label
    if labels is None:
        return (f"{field} {name!r}: no such Secret in namespace {namespace} (a Secret for detectors "
                f"must exist and carry the label {key}={value})")
    if labels.get(key) != value:
        return (f"{field} {name!r} lacks the label {key}={value}: only Secrets labelled for detectors "
                f"may be used (label it if it is meant for them: kubectl label secret {name} {key}={value})")
    return None
