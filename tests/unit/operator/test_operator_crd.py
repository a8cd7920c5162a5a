"""The CRD in crds/ is generated from the pydantic models and must not drift from them."""
from __future__ import annotations

import yaml

from detector_operator import crdgen
from localprocs import REPO

CRD_FILE = REPO / "crds" / "objectdetectors.vision.mlops.dev.yaml"


def _schema() -> dict:
    return crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _walk(node: dict, path: str = ""):
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def test_committed_crd_matches_the_models():
    assert CRD_FILE.read_text() == crdgen.render(), (
        "crds/ is stale: run `make crds` and commit the result"
    )


def test_schema_is_structural_without_refs_nulls_or_titles():
    for path, node in _walk(_schema()):
        assert "$ref" not in node and "$defs" not in node, path
        assert "title" not in node, path
        assert node.get("default", 0) is not None, f"{path} has default: null"
        assert node.get("type") != "null", path
        # Every node says what it is, or is an int-or-string / preserved blob.
        assert (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        ), path


def test_every_spec_field_has_a_description_for_kubectl_explain():
    spec = _schema()["properties"]["spec"]
    for path, node in _walk(spec, "spec"):
        if path.endswith("{}"):
            continue  # map values are described by their map
        assert node.get("description"), f"{path} has no description"


def test_crd_has_status_and_scale_subresources_for_kubectl_scale_and_hpa():
    version = crdgen.crd()["spec"]["versions"][0]
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_kubectl_get_columns_are_name_model_hardware_replicas_ready_status_age():
    columns = crdgen.crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"].upper() for c in columns] == [
        "MODEL", "HARDWARE", "REPLICAS", "READY", "STATUS", "AGE",
    ]
    status = next(c for c in columns if c["name"] == "Status")
    assert status["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'


def test_names_short_name_and_categories():
    names = crdgen.crd()["spec"]["names"]
    assert names["shortNames"] == ["od"]
    assert set(names["categories"]) == {"all", "ml"}
    assert names["kind"] == "ObjectDetector" and names["plural"] == "objectdetectors"


def test_cel_rules_carry_readable_messages():
    spec = _schema()["properties"]["spec"]
    rules = {r["message"] for r in spec["x-kubernetes-validations"]}
    assert "gpu may only be set when hardware is gpu" in rules
    gpu_rules = spec["properties"]["gpu"]["x-kubernetes-validations"]
    assert gpu_rules == [{"rule": "self.count >= 1", "message": "gpu.count must be at least 1"}]
    uri_messages = [r["message"] for r in spec["properties"]["modelUri"]["x-kubernetes-validations"]]
    assert any("gs://, s3://, http://, https://, file:// or pvc://" in m for m in uri_messages)
    # CEL cost estimation rejects matches() on unbounded strings.
    assert spec["properties"]["modelUri"]["maxLength"] <= 4096


def test_quantities_are_int_or_string():
    requests = _schema()["properties"]["spec"]["properties"]["resources"]["properties"]["requests"]
    assert requests["additionalProperties"]["x-kubernetes-int-or-string"] is True


def test_crdgen_output_is_yaml_that_kubectl_can_read():
    parsed = yaml.safe_load(crdgen.render())
    assert parsed["metadata"]["name"] == "objectdetectors.vision.mlops.dev"
