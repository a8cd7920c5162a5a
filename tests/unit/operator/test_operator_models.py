"""The spec as the operator reads it: defaults, camelCase, and the CEL rules repeated in Python."""
from __future__ import annotations

import pytest

from detector_operator.models import InvalidSpec, ObjectDetectorSpec, parse_spec
from tests.support.spec_rules import CASES


def test_minimal_spec_gets_documented_defaults():
    spec = parse_spec({"modelUri": "gs://b/m.tar.gz"})
    assert (spec.replicas, spec.hardware, spec.gpu, spec.service_type, spec.port, spec.grpc_port) == (
        1, "cpu", None, "ClusterIP", 8080, 9000,
    )


def test_http_and_grpc_on_one_service_port_are_rejected():
    with pytest.raises(InvalidSpec, match=r"spec\.port and spec\.grpcPort must differ"):
        parse_spec({"modelUri": "gs://b/m", "port": 9000})


def test_camel_case_fields_round_trip():
    raw = {
        "modelUri": "s3://b/m", "modelName": "cams", "labelMapUri": "s3://b/l.pbtxt",
        "hardware": "gpu", "gpu": {"count": 2, "product": "NVIDIA-L4"},
        "server": {"maxBatchSize": 4, "scoreThreshold": 0.5}, "podAnnotations": {"a": "b"},
    }
    spec = parse_spec(raw)
    assert spec.gpu.count == 2 and spec.server.max_batch_size == 4
    assert spec.wire()["server"] == {"maxBatchSize": 4, "scoreThreshold": 0.5,  # and the pod-level defaults:
                                     "startupTimeoutSeconds": 600, "drainDelaySeconds": 10}


@pytest.mark.parametrize("uri", ["ftp://x/y", "x/y", "gs:/b", "pvc://Bad_Claim/x"])
def test_unknown_or_malformed_uris_are_rejected_with_the_accepted_schemes(uri):
    with pytest.raises(InvalidSpec, match="modelUri"):
        parse_spec({"modelUri": uri})


def test_gpu_without_gpu_hardware_is_rejected():
    with pytest.raises(InvalidSpec, match="gpu may only be set when hardware is gpu"):
        parse_spec({"modelUri": "gs://b/m", "gpu": {"count": 1}})


def test_gpu_count_below_one_is_rejected():
    with pytest.raises(InvalidSpec, match=r"gpu\.count must be at least 1"):
        parse_spec({"modelUri": "gs://b/m", "hardware": "gpu", "gpu": {"count": 0}})


def test_negative_replicas_are_rejected_with_the_field_path():
    with pytest.raises(InvalidSpec, match=r"spec\.replicas"):
        parse_spec({"modelUri": "gs://b/m", "replicas": -1})


def test_pvc_uri_splits_into_claim_and_path():
    assert ObjectDetectorSpec(model_uri="pvc://store/a/b").pvc_claim == ("store", "a/b")
    assert ObjectDetectorSpec(model_uri="pvc://store").pvc_claim == ("store", "")
    assert ObjectDetectorSpec(model_uri="gs://b/m").pvc_claim is None


@pytest.mark.parametrize("quantity", ["lots", "4GB", "1.2.3"])
def test_malformed_resource_quantities_are_invalid_spec(quantity):
    with pytest.raises(InvalidSpec, match=f"cpu: '{quantity}' is not a quantity"):
        parse_spec({"modelUri": "gs://b/m", "resources": {"requests": {"cpu": quantity}}})


@pytest.mark.parametrize("quantity", ["500m", "2", 2, "4Gi", "1e3", "0.5"])
def test_well_formed_quantities_pass(quantity):
    parse_spec({"modelUri": "gs://b/m", "resources": {"limits": {"memory": quantity}}})


@pytest.mark.parametrize("spec", [
    {},
    {"modelUri": "gs://b/m", "modelUriFrom": {"secretKeyRef": {"name": "s", "key": "url"}}},
])
def test_exactly_one_of_model_uri_and_model_uri_from(spec):
    with pytest.raises(InvalidSpec, match="exactly one of modelUri and modelUriFrom"):
        parse_spec(spec)


def test_an_invalid_model_uri_is_quoted_redacted():
    with pytest.raises(InvalidSpec) as refused:
        parse_spec({"modelUri": "ftp://alice:PASSWORD123@h/m.tar.gz?X-Amz-Signature=5ec7e75167a7"})
    assert "PASSWORD123" not in str(refused.value) and "5ec7e75167a7" not in str(refused.value)
    assert "ftp://h/m.tar.gz" in str(refused.value)


@pytest.mark.parametrize("quantity,count", [("4Gi", 4 * 2**30), ("500M", 500 * 10**6), (1024, 1024),
                                            ("1e9", 10**9), ("1.5Gi", 3 * 2**29)])
def test_byte_quantities(quantity, count):
    from detector_operator.models import quantity_bytes, quantity_string

    assert quantity_bytes(quantity) == count
    assert quantity_bytes(quantity_string(count)) == count


def test_a_volume_too_small_for_a_model_is_invalid():
    with pytest.raises(InvalidSpec, match=r"storage\.modelSizeLimit.*64Mi"):
        parse_spec({"modelUri": "gs://b/m", "storage": {"modelSizeLimit": "1Mi"}})


@pytest.mark.parametrize("spec, accepted", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_uri_and_name_rules_judge_as_the_crd_does(spec, accepted):
    # The same cases go through the API server's CEL and patterns in tests/integration/operator.
    try:
        parse_spec(spec)
    except InvalidSpec:
        assert not accepted, f"parse_spec refused {spec}, which the CRD accepts"
    else:
        assert accepted, f"parse_spec accepted {spec}, which the CRD refuses"
