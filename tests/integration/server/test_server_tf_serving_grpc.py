"""TF Serving's own Python stubs (tensorflow_serving.apis) against the live server: Predict with a
TensorProto image, GetModelMetadata and GetModelStatus answer as TF Serving does, with the
results REST :predict gives."""

from __future__ import annotations

import grpc
import httpx
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tests.support.images import picture
from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME
from tests.support.tf_serving import predict_request


@pytest.fixture(scope="module")
def channel(shared_server):
    with grpc.insecure_channel(shared_server.grpc_target) as channel:
        yield channel


def test_predict_with_a_tensor_proto_equals_rest_predict(shared_server, channel):
    batch = np.stack([picture(80, 60, seed=s) for s in (21, 22)])
    rest = httpx.post(f"{shared_server.url}/v1/models/{MODEL_NAME}:predict",
                      json={"inputs": {"input_tensor": batch.tolist()}}, timeout=30).json()["outputs"]
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
        predict_request(batch, MODEL_NAME, signature_name="serving_default"), timeout=30)
    assert response.model_spec.name == MODEL_NAME and response.model_spec.version.value == 1
    assert set(response.outputs) == set(rest)
    for name, tensor in response.outputs.items():
        np.testing.assert_allclose(tf.make_ndarray(tensor), np.asarray(rest[name]), atol=1e-5, err_msg=name)


def test_predict_reads_int_val_tensors_and_an_output_filter(shared_server, channel):
    image = picture(40, 30, seed=23)[None]
    request = predict_request(image, MODEL_NAME)
    proto = request.inputs["input_tensor"]
    proto.ClearField("tensor_content")
    proto.int_val.extend(image.reshape(-1).tolist())  # the other way TF lets uint8 values travel
    request.output_filter.append("detection_scores")
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    rest = httpx.post(f"{shared_server.url}/v1/models/{MODEL_NAME}:predict",
                      json={"instances": image.tolist()}, timeout=30).json()["predictions"][0]
    assert list(response.outputs) == ["detection_scores"]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["detection_scores"])[0],
                               rest["detection_scores"], atol=1e-5)


def test_get_model_metadata_describes_the_serving_signature(channel):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = MODEL_NAME
    request.metadata_field.append("signature_def")
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    serving = signatures.signature_def["serving_default"]
    assert serving.method_name == "tensorflow/serving/predict"
    assert serving.inputs["input_tensor"].dtype == tf.uint8.as_datatype_enum
    assert [d.size for d in serving.inputs["input_tensor"].tensor_shape.dim] == [-1, -1, -1, 3]
    assert set(serving.outputs) == {"detection_boxes", "detection_scores", "detection_classes", "num_detections"}


def test_get_model_status_is_available_like_rest(shared_server, channel):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL_NAME
    response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    (status,) = response.model_version_status
    rest = httpx.get(f"{shared_server.url}/v1/models/{MODEL_NAME}", timeout=10).json()["model_version_status"][0]
    assert status.version == int(rest["version"]) == 1
    assert get_model_status_pb2.ModelVersionStatus.State.Name(status.state) == rest["state"] == "AVAILABLE"
    assert status.status.error_code == 0 and not status.status.error_message
