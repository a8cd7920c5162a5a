"""The comparison point: KServe's Python model server with the smallest custom model that serves
a Zoo-signature SavedModel over v1 `:predict` (what a user writes from KServe's custom-model docs).

Runs in .venv-kserve (kserve is never installed into the project's .venv):

    .venv-kserve/bin/python bench/server_kserve_model.py --model_dir DIR --model_name tiny \
        --http_port 8080 --enable_grpc false

Answers TF Serving's row format, like our server: {"predictions": [{output: value, ...}, ...]}.
"""

from __future__ import annotations

import argparse

import kserve
import numpy as np
import tensorflow as tf


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

    def predict(self, payload: dict, headers: dict[str, str] | None = None) -> dict:
        batch = np.asarray(payload["instances"], dtype=np.uint8)
        outputs = {k: v.numpy() for k, v in self.fn(input_tensor=tf.constant(batch)).items()}
        return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(len(batch))]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    kserve.ModelServer().start([ZooDetector(args.model_name, args.model_dir)])
