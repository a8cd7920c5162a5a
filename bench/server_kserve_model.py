"""The comparison point: KServe's Python model server with the smallest custom model that serves
a Zoo-signature SavedModel (what a user writes from KServe's custom-model docs), over v1
`:predict`, v2 infer (JSON or binary tensors) and gRPC ModelInfer.

Runs in .venv-kserve (kserve is never installed into the project's .venv):

    .venv-kserve/bin/python bench/server_kserve_model.py --model_dir DIR --model_name tiny \
        --http_port 8080 --grpc_port 8081

v1 answers TF Serving's row format, like our server: {"predictions": [{output: value, ...}]};
v2 and gRPC answer an InferResponse, binary when the request asks (REST) or sent raw (gRPC).
"""

from __future__ import annotations

import argparse

import kserve
import numpy as np
import tensorflow as tf
from kserve import InferOutput, InferRequest, InferResponse


class ZooDetector(kserve.Model):
    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.fn = None
        self.load()

    def load(self) -> bool:
        self.fn = tf.saved_model.load(self.model_dir).signatures["serving_default"]
        self.ready = True
        return self.ready

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.fn(input_tensor=tf.constant(batch, dtype=tf.uint8)).items()}

    def predict(self, payload: dict | InferRequest, headers: dict[str, str] | None = None) -> dict | InferResponse:
        if isinstance(payload, InferRequest):  # v2 REST and gRPC
            outputs = self._run(payload.inputs[0].as_numpy())
            infer_outputs = []
            for name, value in outputs.items():
                output = InferOutput(name=name, shape=list(value.shape), datatype="FP32")
                output.set_data_from_numpy(value, binary_data=payload.use_binary_outputs)
                infer_outputs.append(output)
            return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=infer_outputs,
                                 use_binary_outputs=payload.use_binary_outputs)
        batch = np.asarray(payload["instances"], dtype=np.uint8)
        outputs = self._run(batch)
        return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(len(batch))]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    kserve.ModelServer().start([ZooDetector(args.model_name, args.model_dir)])
