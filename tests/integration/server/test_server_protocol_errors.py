"""Bad input on the binary and gRPC paths: a 4xx or the right gRPC code with a message that names
the problem; never a 5xx, never UNKNOWN or INTERNAL, and the server keeps serving."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.support.server_process import SHARED_MAX_BODY
from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME
from tests.support.tf_serving import predict_request

INFER = f"/v2/models/{MODEL_NAME}/infer"
HEADER = "Inference-Header-Content-Length"


def framed(header: dict, tail: bytes, header_length: int | None = None) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(header).encode()
    length = len(text) if header_length is None else header_length
    return text + tail, {HEADER: str(length), "content-type": "application/octet-stream"}


def image_header(shape=(1, 4, 4, 3), datatype="UINT8", size=None) -> dict:
    size = int(np.prod(shape)) if size is None else size
    return {"inputs": [{"name": "input_tensor", "shape": list(shape), "datatype": datatype,
                        "parameters": {"binary_data_size": size}}]}


BINARY_CASES = {
    "truncated body": (image_header(), bytes(40), None, "announce 48 bytes"),
    "header length larger than the body": (image_header(), bytes(48), 10_000, "the body has only"),
    "header length not a number": (image_header(), bytes(48), "many", "must be a byte count"),
    "size that does not fit the shape": (image_header(size=40), bytes(40), None, "needs 48 bytes"),
    "wrong datatype for the bytes": (image_header(datatype="FP32", size=48), bytes(48), None, "needs 192 bytes"),
    "right size, wrong datatype": (image_header(shape=(1, 2, 2, 3), datatype="FP32", size=48), bytes(48), None,
                                   "datatype must be UINT8"),
    "negative size": (image_header(size=-1), b"", None, "binary_data_size must be a byte count"),
    "header cut inside the JSON": (image_header(), bytes(48), 5, "not JSON"),
    "binary output flag not a boolean": ({**image_header(), "parameters": {"binary_data_output": "yes"}}, bytes(48),
                                         None, "must be true or false"),
}


@pytest.mark.parametrize("case", BINARY_CASES)
def test_bad_binary_bodies_are_400_with_the_reason(client, case):
    header, tail, length, words = BINARY_CASES[case]
    if isinstance(length, str):
        body, headers = framed(header, tail)
        headers[HEADER] = length
    else:
        body, headers = framed(header, tail, length)
    answer = client.post(INFER, content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["error"]


def test_binary_body_for_an_unknown_model_is_404(client):
    body, headers = framed(image_header(), bytes(48))
    answer = client.post("/v2/models/other/infer", content=body, headers=headers)
    assert answer.status_code == 404 and "'other' not found" in answer.json()["error"]
    assert client.post(f"/v2/models/{MODEL_NAME}/versions/2/infer", content=body, headers=headers).status_code == 404


def test_binary_body_over_the_limit_is_413_from_its_headers(client):
    body, headers = framed(image_header(), bytes(SHARED_MAX_BODY))
    assert client.post(INFER, content=body, headers=headers).status_code == 413


@pytest.fixture(scope="module")
def stubs(shared_server):
    with grpc.insecure_channel(shared_server.grpc_target) as channel:
        yield (service_pb2_grpc.GRPCInferenceServiceStub(channel),
               prediction_service_pb2_grpc.PredictionServiceStub(channel))


def oip_request(shape=(1, 4, 4, 3), datatype="UINT8", raw: bytes | None = None, model=MODEL_NAME, **extra):
    request = service_pb2.ModelInferRequest(model_name=model, **extra)
    request.inputs.add(name="input_tensor", datatype=datatype, shape=shape)
    request.raw_input_contents.append(bytes(int(np.prod(shape))) if raw is None else raw)
    return request


def call_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=30)
    return error.value


OIP_CASES = {
    "raw bytes that do not fit the shape": (oip_request(raw=bytes(10)), grpc.StatusCode.INVALID_ARGUMENT,
                                            "needs 48 bytes"),
    "wrong datatype": (oip_request(datatype="FP32"), grpc.StatusCode.INVALID_ARGUMENT, "UINT8"),
    "wrong shape": (oip_request(shape=(4, 4, 3)), grpc.StatusCode.INVALID_ARGUMENT, "[N, H, W, 3]"),
    "unknown model": (oip_request(model="other"), grpc.StatusCode.NOT_FOUND, "'other' not found"),
    "unknown version": (oip_request(model_version="7"), grpc.StatusCode.NOT_FOUND, "no version '7'"),
    "unknown output": (oip_request(outputs=[service_pb2.ModelInferRequest.InferRequestedOutputTensor(name="logits")]),
                       grpc.StatusCode.INVALID_ARGUMENT, "unknown outputs ['logits']"),
}


@pytest.mark.parametrize("case", OIP_CASES)
def test_bad_model_infer_calls_get_the_right_code_and_reason(stubs, case):
    request, code, words = OIP_CASES[case]
    error = call_error(stubs[0].ModelInfer, request)
    assert error.code() == code and words in error.details()


def test_a_raw_count_that_does_not_match_the_inputs_is_invalid(stubs):
    request = oip_request()
    request.raw_input_contents.append(b"extra")
    error = call_error(stubs[0].ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "2 entries for 1 inputs" in error.details()


def test_an_oversized_message_is_resource_exhausted(stubs):
    error = call_error(stubs[0].ModelInfer, oip_request(raw=bytes(SHARED_MAX_BODY + 1)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in error.details()


def tfs_request(array: np.ndarray, **spec) -> object:
    return predict_request(array, spec.pop("name", MODEL_NAME), **spec)


PIXELS = np.zeros((1, 4, 4, 3), np.uint8)
TFS_CASES = {
    "float pixels": (tfs_request(PIXELS.astype(np.float32)), grpc.StatusCode.INVALID_ARGUMENT, "UINT8"),
    "wrong rank": (tfs_request(PIXELS[0]), grpc.StatusCode.INVALID_ARGUMENT, "[N, H, W, 3]"),
    "unknown model": (tfs_request(PIXELS, name="other"), grpc.StatusCode.NOT_FOUND, "'other' not found"),
    "unknown signature": (tfs_request(PIXELS, signature_name="classify"), grpc.StatusCode.INVALID_ARGUMENT,
                          "only 'serving_default'"),
    "unknown version label": (tfs_request(PIXELS, version_label="canary"), grpc.StatusCode.NOT_FOUND, "'canary'"),
}


@pytest.mark.parametrize("case", TFS_CASES)
def test_bad_predict_calls_get_the_right_code_and_reason(stubs, case):
    request, code, words = TFS_CASES[case]
    error = call_error(stubs[1].Predict, request)
    assert error.code() == code and words in error.details()


def test_metadata_for_something_else_than_the_signature_is_invalid(stubs):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = MODEL_NAME
    request.metadata_field.append("graph")
    error = call_error(stubs[1].GetModelMetadata, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "signature_def" in error.details()


def test_the_server_still_serves_and_counted_the_refusals(client, stubs):
    answer = stubs[0].ModelInfer(oip_request(shape=(1, 8, 8, 3)), timeout=30)
    assert answer.outputs and answer.raw_output_contents
    metrics = client.get("/metrics").text
    assert 'code="INVALID_ARGUMENT",endpoint="/inference.GRPCInferenceService/ModelInfer",method="gRPC"' in metrics
    assert 'code="OK",endpoint="/inference.GRPCInferenceService/ModelInfer",method="gRPC"' in metrics
    assert 'code="INTERNAL"' not in metrics and 'code="UNKNOWN"' not in metrics
    assert 'code="500"' not in metrics
