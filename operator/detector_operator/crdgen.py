"""Generate the ObjectDetector CRD from the pydantic models (`make crds`).

Pure: `crd()` returns a dict; `python -m detector_operator.crdgen` prints it as YAML.
Pydantic's JSON schema becomes a Kubernetes *structural* schema: `$defs` inlined, Optional's
`anyOf [X, null]` collapsed to X (a null is then pruned by the API server, so a templated
`gpu: null` behaves like an omitted field), int-or-string quantities marked as such, and
descriptions kept so `kubectl explain` reads them.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from detector_operator import models

# Keys a structural schema may carry that we take over from pydantic as they are.
_KEPT = {
    "type", "description", "default", "enum", "pattern", "minimum", "maximum",
    "minLength", "maxLength", "minItems", "maxItems", "required", "nullable",
    "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-int-or-string",
}

PRINTER_COLUMNS = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.modelUri"},
    {"name": "Hardware", "type": "string", "jsonPath": ".spec.hardware"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
    {
        "name": "Status",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "description": "Why the detector is or is not serving (the Ready condition's reason).",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Turn one pydantic JSON-schema node into a structural OpenAPI v3 node."""
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(variants) == 1:
            inner = structural(variants[0], defs)
            # The outer node's description/default wins; validations from both are kept.
            rules = inner.get("x-kubernetes-validations", []) + rest.get(
                "x-kubernetes-validations", []
            )
            out = {**inner, **structural_leaf(rest)}
            if rules:
                out["x-kubernetes-validations"] = rules
            return out
        if sorted(v.get("type", "") for v in variants) == ["integer", "string"]:
            return {
                **structural_leaf(rest),
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
        raise ValueError(f"cannot express anyOf {variants} structurally")

    out = structural_leaf(node)
    if node.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        if "properties" in node:
            out["properties"] = {
                name: structural(sub, defs) for name, sub in node["properties"].items()
            }
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = structural(extra, defs)
        elif extra is not None and not node.get("x-kubernetes-preserve-unknown-fields"):
            # `dict[str, Any]` without an explicit marker: keep whatever the user writes.
            out["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("type") == "array":
        out["items"] = structural(node["items"], defs)
    return out


def structural_leaf(node: dict[str, Any]) -> dict[str, Any]:
    # `default: null` is pydantic's way of saying optional; in a CRD it would be an error.
    return {k: v for k, v in node.items() if k in _KEPT and not (k == "default" and v is None)}


def schema_of(model: type[models._Model]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


def crd() -> dict[str, Any]:
    spec = schema_of(models.ObjectDetectorSpec)
    status = schema_of(models.ObjectDetectorStatus)
    root = {
        "type": "object",
        "description": (
            "ObjectDetector serves a TensorFlow object-detection SavedModel behind a Service: "
            "the operator runs it as a Deployment of the shared inference server."
        ),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{models.PLURAL}.{models.GROUP}",
            "labels": {"app.kubernetes.io/name": "detector-operator"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": models.KIND,
                "listKind": f"{models.KIND}List",
                "plural": models.PLURAL,
                "singular": models.SINGULAR,
                "shortNames": models.SHORT_NAMES,
                "categories": models.CATEGORIES,
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


HEADER = "# Generated from detector_operator/models.py by `make crds`: do not edit by hand.\n"


def render() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
