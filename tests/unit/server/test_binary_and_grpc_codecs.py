"""The binary REST framing and the OIP gRPC codec decode into the same checked batch as JSON, and
encode the same outputs back; one table gives every typed error its HTTP and gRPC code."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from inference_server import errors
from inference_server.protocol import v2, v2_binary, v2_grpc
from inference_server.protocol.oip import open_inference_grpc_pb2 as pb

IMAGE = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
OUTPUTS = {"detection_scores": np.array([[0.5, 0.25]], np.float32), "num_detections": np.array([2.0], np.float32)}


def framed(header: dict, tail: bytes) -> tuple[bytes, str]:
    text = json.dumps(header).encode()
    return text + tail, str(len(text))


def binary_request(**parameters) -> dict:
    return {"id": "b1", "parameters": parameters or None, "inputs": [
        {"name": "input_tensor", "shape": list(IMAGE.shape), "datatype": "UINT8",
         "parameters": {"binary_data_size": IMAGE.nbytes}}]}


def test_binary_json_and_grpc_requests_decode_to_the_same_batch():
    body, length = framed(binary_request(), IMAGE.tobytes())
    _, from_binary = v2_binary.read_infer(body, length)
    json_body = json.dumps({"inputs": [{"name": "input_tensor", "shape": list(IMAGE.shape), "datatype": "UINT8",
                                        "data": IMAGE.reshape(-1).tolist()}]}).encode()
    _, from_json = v2_binary.read_infer(json_body, None)
    request = pb.ModelInferRequest(model_name="m", raw_input_contents=[IMAGE.tobytes()])
    request.inputs.add(name="input_tensor", datatype="UINT8", shape=IMAGE.shape)
    _, from_grpc = v2_grpc.decode_infer(request)
    assert from_binary.dtype == np.uint8
    assert np.array_equal(from_binary, IMAGE) and np.array_equal(from_json, IMAGE) and np.array_equal(from_grpc, IMAGE)


def test_binary_outputs_come_back_framed_with_their_sizes():
    body, length = framed(binary_request(binary_data_output=True), IMAGE.tobytes())
    request, _ = v2_binary.read_infer(body, length)
    content, headers = v2_binary.encode_infer("m", request, OUTPUTS)
    split = int(headers[v2_binary.HEADER])
    header = json.loads(content[:split])
    assert headers["content-type"] == "application/octet-stream" and header["id"] == "b1"
    offset = split
    for output in header["outputs"]:
        size = output["parameters"]["binary_data_size"]
        values = np.frombuffer(content[offset:offset + size], "<f4").reshape(output["shape"])
        np.testing.assert_array_equal(values, OUTPUTS[output["name"]])
        offset += size
    assert offset == len(content)


def test_an_output_may_ask_for_json_while_the_rest_is_binary():
    header = binary_request(binary_data_output=True)
    header["outputs"] = [{"name": "detection_scores", "parameters": {"binary_data": False}}, {"name": "num_detections"}]
    body, length = framed(header, IMAGE.tobytes())
    request, _ = v2_binary.read_infer(body, length)
    assert v2_binary.binary_outputs(request, ["detection_scores", "num_detections"]) == {"num_detections"}


def test_a_json_request_without_binary_outputs_gets_plain_json():
    request = v2.InferRequest(inputs=[v2.InferInput(name="input_tensor", shape=[1], datatype="UINT8", data=[1])])
    content, headers = v2_binary.encode_infer("m", request, OUTPUTS)
    assert headers == {"content-type": "application/json"}
    assert json.loads(content)["outputs"][1] == {"name": "num_detections", "datatype": "FP32", "shape": [1],
                                                 "data": [2.0]}


def test_typed_grpc_contents_are_checked_like_json_numbers():
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="input_tensor", datatype="UINT8", shape=[1, 1, 1, 3])
    tensor.contents.uint_contents.extend([1, 2, 300])
    with pytest.raises(errors.BadInput, match="within 0-255"):
        v2_grpc.decode_infer(request)
    tensor.contents.ClearField("uint_contents")
    tensor.contents.int_contents.extend([1, 2, 3])
    with pytest.raises(errors.BadInput, match=r"UINT8 values go in contents\.uint_contents"):
        v2_grpc.decode_infer(request)


def test_grpc_answers_raw_for_raw_and_typed_for_typed():
    raw = pb.ModelInferRequest(model_name="m", id="r", raw_input_contents=[b"x"])
    typed = pb.ModelInferRequest(model_name="m", id="t")
    names = list(OUTPUTS)
    as_raw, as_typed = v2_grpc.encode_infer("m", raw, names, OUTPUTS), v2_grpc.encode_infer("m", typed, names, OUTPUTS)
    assert np.array_equal(np.frombuffer(as_raw.raw_output_contents[0], "<f4"), [0.5, 0.25])
    assert not as_typed.raw_output_contents and list(as_typed.outputs[0].contents.fp32_contents) == [0.5, 0.25]
    assert (as_raw.id, list(as_raw.outputs[0].shape), as_raw.outputs[0].datatype) == ("r", [1, 2], "FP32")


@pytest.mark.parametrize("kind", sorted(errors.CODES, key=lambda k: k.__name__))
def test_every_typed_error_has_an_http_and_a_grpc_code(kind):
    http, name = errors.CODES[kind]
    assert 400 <= http < 600 and grpc.StatusCode[name] not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK)


def test_a_bug_is_500_and_internal_never_unknown():
    assert (errors.status_code(KeyError("x")), errors.grpc_code(KeyError("x"))) == (500, "INTERNAL")
    assert errors.grpc_code(errors.UnknownModel("m", "2")) == "NOT_FOUND"
