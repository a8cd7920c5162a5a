"""What the server benchmark drives: one row per API, the same request bytes for every server.

Each API knows how to reach a server (an HTTP path or a gRPC method), the body it replays and the
goal the issue sets for it, as a fraction of the raw TensorFlow floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from server_payloads import (
    infer_binary_body,
    jpeg_body,
    model_infer_body,
    predict_body,
    tf_serving_predict_body,
)

INFER_HEADER = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class Api:
    key: str  # the --apis name
    label: str  # the table's name for it
    path: str | None = None  # HTTP path, {model} filled in
    grpc_method: str | None = None  # /package.Service/Method
    content_type: str = "application/octet-stream"
    floor_goal: float | None = None  # images/s at best concurrency, as a fraction of the floor
    kserve: bool = False  # KServe's server speaks it too: measured side by side
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, http_base: str, grpc_target: str, model: str) -> str:
        if self.grpc_method:
            return f"grpc://{grpc_target}{self.grpc_method}"
        return http_base + self.path.format(model=model)


APIS = {
    api.key: api for api in (
        Api("predict", ":predict (JSON)", path="/v1/models/{model}:predict", content_type="application/json",
            kserve=True),
        Api("detect", ":detect (JPEG)", path="/v1/models/{model}:detect", content_type="image/jpeg", floor_goal=0.85),
        Api("infer-binary", "v2 infer (binary)", path="/v2/models/{model}/infer", floor_goal=0.90, kserve=True),
        Api("grpc-infer", "gRPC ModelInfer", grpc_method="/inference.GRPCInferenceService/ModelInfer",
            floor_goal=0.90, kserve=True),
        Api("grpc-predict", "gRPC TF Serving Predict", grpc_method="/tensorflow.serving.PredictionService/Predict",
            floor_goal=0.90),
    )
}


@dataclass(frozen=True)
class Body:
    path: Path
    headers: dict[str, str]


def write_bodies(image: np.ndarray, size: int, model: str, work: Path, keys: list[str]) -> dict[str, Body]:
    """Each API's request body for this image, written once and replayed by every load run."""
    bodies: dict[str, Body] = {}
    for key in keys:
        headers: dict[str, str] = {}
        if key == "predict":
            data = predict_body(image)
        elif key == "detect":
            data = jpeg_body(image)
        elif key == "infer-binary":
            data, header_length = infer_binary_body(image)
            headers[INFER_HEADER] = str(header_length)
        elif key == "grpc-infer":
            data = model_infer_body(image, model)
        elif key == "grpc-predict":
            data = tf_serving_predict_body(image, model)
        else:
            raise ValueError(f"unknown API {key!r}; known: {sorted(APIS)}")
        path = work / f"{key}-{size}.body"
        path.write_bytes(data)
        bodies[key] = Body(path, headers)
    return bodies
