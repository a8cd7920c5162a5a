""":predict and :infer parse their JSON bodies themselves (for speed); the OpenAPI schema still
documents them, so /docs shows them and schemathesis sends them."""

from __future__ import annotations

from inference_server.app import create_app
from inference_server.config import ServerConfig


def operation(path: str) -> dict:
    return create_app(ServerConfig(model_uri="unused")).openapi()["paths"][path]["post"]


def body_schema(path: str) -> dict:
    return operation(path)["requestBody"]["content"]["application/json"]["schema"]


def test_predict_body_is_documented_with_both_request_forms():
    schema = body_schema("/v1/models/{name}:predict")
    assert {"signature_name", "instances", "inputs"} <= set(schema["properties"])


def test_infer_body_is_documented_with_its_tensors_inline():
    schema = body_schema("/v2/models/{name}/infer")
    tensor = schema["properties"]["inputs"]["items"]
    assert "$ref" not in str(schema)  # a $defs reference would not resolve inside the OpenAPI document
    # data is absent when the tensor comes as binary data after the JSON header
    assert set(tensor["required"]) == {"name", "shape", "datatype"} and "data" in tensor["properties"]


def test_infer_documents_the_binary_tensor_framing():
    infer = operation("/v2/models/{name}/infer")
    assert infer["requestBody"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert [p["name"] for p in infer["parameters"] if p["in"] == "header"] == ["Inference-Header-Content-Length"]
