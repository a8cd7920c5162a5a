"""TF Serving requests built with TF Serving's own published messages (tensorflow_serving.apis)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2


def predict_request(batch: np.ndarray, model: str, **spec: object) -> predict_pb2.PredictRequest:
    """A PredictRequest for `model` with the batch as input_tensor; spec sets ModelSpec fields."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for key, value in spec.items():
        setattr(request.model_spec, key, value)
    request.inputs["input_tensor"].CopyFrom(tf.make_tensor_proto(batch))
    return request
