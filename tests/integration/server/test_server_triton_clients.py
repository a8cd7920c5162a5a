"""Triton's own Python clients (tritonclient.http and tritonclient.grpc), unchanged and in their
default modes, against the live server: health, metadata, and infer with binary and JSON tensors
give what TF Serving's :predict gives for the same image."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from tests.support.images import picture
from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME

OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return picture(96, 64, seed=11)[None]  # [1, H, W, 3]


@pytest.fixture(scope="module")
def predicted(shared_server, image) -> dict[str, np.ndarray]:
    import httpx

    answer = httpx.post(f"{shared_server.url}/v1/models/{MODEL_NAME}:predict",
                        json={"instances": image.tolist()}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {name: np.asarray(answer.json()["predictions"][0][name])[None] for name in OUTPUTS}


@pytest.fixture(scope="module")
def http_client(shared_server):
    client = triton_http.InferenceServerClient(shared_server.url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(shared_server):
    client = triton_grpc.InferenceServerClient(shared_server.grpc_target)
    yield client
    client.close()


def assert_same(result, predicted: dict[str, np.ndarray], outputs=OUTPUTS) -> None:
    for name in outputs:
        got = result.as_numpy(name)
        assert got is not None, f"{name} missing from the answer"
        np.testing.assert_allclose(got, predicted[name], atol=1e-5, err_msg=name)


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_server_and_model_are_live_ready_and_described(kind, http_client, grpc_client):
    client = http_client if kind == "http" else grpc_client
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL_NAME)
    assert client.is_model_ready(MODEL_NAME, model_version="1")
    as_json = {"as_json": True} if kind == "grpc" else {}
    server = client.get_server_metadata(**as_json)
    assert server["name"] == "detector-server" and "binary_tensor_data" in server["extensions"]
    model = client.get_model_metadata(MODEL_NAME, **as_json)
    assert model["inputs"][0]["name"] == "input_tensor" and model["inputs"][0]["datatype"] == "UINT8"
    assert sorted(o["name"] for o in model["outputs"]) == sorted(OUTPUTS)


@pytest.mark.parametrize("binary_in,binary_out", [(True, True), (True, False), (False, True), (False, False)])
def test_http_client_infers_with_binary_and_json_tensors_like_predict(http_client, image, predicted,
                                                                      binary_in, binary_out):
    tensor = triton_http.InferInput("input_tensor", list(image.shape), "UINT8")
    tensor.set_data_from_numpy(image, binary_data=binary_in)
    outputs = [triton_http.InferRequestedOutput(name, binary_data=binary_out) for name in OUTPUTS]
    assert_same(http_client.infer(MODEL_NAME, [tensor], outputs=outputs, request_id="r-7"), predicted)


def test_http_client_default_call_asks_every_output_binary(http_client, image, predicted):
    tensor = triton_http.InferInput("input_tensor", list(image.shape), "UINT8")
    tensor.set_data_from_numpy(image)  # the client's defaults: binary in, binary_data_output for all
    result = http_client.infer(MODEL_NAME, [tensor], model_version="1")
    assert_same(result, predicted)
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])


def test_grpc_client_infers_with_raw_contents_like_predict(grpc_client, image, predicted):
    tensor = triton_grpc.InferInput("input_tensor", list(image.shape), "UINT8")
    tensor.set_data_from_numpy(image)
    result = grpc_client.infer(MODEL_NAME, [tensor], request_id="r-8")
    assert result.get_response().id == "r-8"
    assert_same(result, predicted)


def test_grpc_client_can_ask_for_some_outputs_only(grpc_client, image, predicted):
    tensor = triton_grpc.InferInput("input_tensor", list(image.shape), "UINT8")
    tensor.set_data_from_numpy(image)
    wanted = [triton_grpc.InferRequestedOutput("detection_scores")]
    result = grpc_client.infer(MODEL_NAME, [tensor], outputs=wanted)
    assert [o.name for o in result.get_response().outputs] == ["detection_scores"]
    assert_same(result, predicted, outputs=["detection_scores"])


def test_typed_grpc_contents_are_answered_in_typed_contents(shared_server, image, predicted):
    """Triton's published messages with contents.uint_contents instead of raw bytes (what clients
    other than tritonclient send); the answer's values come in contents.fp32_contents."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    request = service_pb2.ModelInferRequest(model_name=MODEL_NAME, id="typed")
    tensor = request.inputs.add(name="input_tensor", datatype="UINT8", shape=image.shape)
    tensor.contents.uint_contents.extend(image.reshape(-1).tolist())
    with grpc.insecure_channel(shared_server.grpc_target) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert not response.raw_output_contents
    for output in response.outputs:
        values = np.asarray(output.contents.fp32_contents).reshape(list(output.shape))
        np.testing.assert_allclose(values, predicted[output.name], atol=1e-5, err_msg=output.name)
