"""The benchmark's one image and its request bodies: identical bytes for every server measured.

Plain numpy + Pillow (and, for the gRPC bodies, the protocols' published messages), so the load
generator replays bytes and stays light.
"""

from __future__ import annotations

import io
import json

import numpy as np


def scene(size: int, seed: int = 7) -> np.ndarray:
    """A deterministic size x size RGB uint8 image with smooth regions and edges (JPEG-realistic)."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([90 + 100 * yy, 140 + 60 * yy, 200 - 40 * xx], -1)
    for _ in range(6):  # a few solid blobs, like objects on a background
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[mask] = rng.uniform(20, 240, 3)
    img += rng.normal(0, 6, img.shape)  # sensor noise keeps JPEG honest
    return np.clip(img, 0, 255).astype(np.uint8)


def predict_body(image: np.ndarray) -> bytes:
    """TF Serving / KServe v1 row format: {"instances": [H x W x 3 nested lists]}."""
    return json.dumps({"instances": [image.tolist()]}, separators=(",", ":")).encode()


def jpeg_body(image: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def infer_binary_body(image: np.ndarray) -> tuple[bytes, int]:
    """OIP v2 /infer with the binary tensor data extension, asking every output as binary:
    (body, Inference-Header-Content-Length), as tritonclient.http sends it by default."""
    batch = image[None]
    header = {"inputs": [{"name": "input_tensor", "shape": list(batch.shape), "datatype": "UINT8",
                          "parameters": {"binary_data_size": batch.nbytes}}],
              "parameters": {"binary_data_output": True}}
    text = json.dumps(header).encode()
    return text + batch.tobytes(), len(text)


def model_infer_body(image: np.ndarray, model: str) -> bytes:
    """A serialized OIP gRPC ModelInferRequest with raw_input_contents (Triton's published
    messages, as tritonclient.grpc sends it)."""
    from tritonclient.grpc import service_pb2

    batch = image[None]
    request = service_pb2.ModelInferRequest(model_name=model, raw_input_contents=[batch.tobytes()])
    request.inputs.add(name="input_tensor", datatype="UINT8", shape=batch.shape)
    return request.SerializeToString()


def tf_serving_predict_body(image: np.ndarray, model: str) -> bytes:
    """A serialized TF Serving PredictRequest with the image as a tensor_content TensorProto."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    batch = image[None]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["input_tensor"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_UINT8, tensor_content=batch.tobytes(),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d)
                                                            for d in batch.shape])))
    return request.SerializeToString()
