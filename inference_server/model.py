"""The TensorFlow side: load a Zoo-style detection SavedModel, check its signature, run it."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .signature import INPUT, OUTPUTS, SIGNATURE

log = logging.getLogger(__name__)


class ModelError(Exception):
    """The SavedModel cannot be used: the message says what is wrong and what was expected."""


class Detector:
    """Blocking API: call load() and predict() from a worker thread, never from the event loop."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.ready = False
        self.load_seconds: float | None = None
        # Real Zoo exports fix the batch at 1 ([1, None, None, 3]); None means any batch size.
        self.fixed_batch: int | None = None
        self._fn: Any = None

    def load(self, path: Path | None = None) -> None:
        import tensorflow as tf  # imported here: importing the server must stay cheap

        self.path = Path(path or self.path or "")
        started = time.monotonic()
        if not (self.path / "saved_model.pb").is_file():
            raise ModelError(f"{self.path} is not a SavedModel directory (no saved_model.pb)")
        try:
            loaded = tf.saved_model.load(str(self.path))
        except Exception as exc:  # TF raises many types for a corrupt model
            raise ModelError(f"cannot load SavedModel {self.path}: {exc}") from exc
        signatures = dict(loaded.signatures)
        if SIGNATURE not in signatures:
            raise ModelError(f"SavedModel has no {SIGNATURE!r} signature (has {sorted(signatures)})")
        fn = signatures[SIGNATURE]
        self.fixed_batch = _check_signature(fn)
        self._model, self._fn = loaded, fn  # keep the model object: the signature needs it alive
        self.warm_up()
        self.load_seconds = time.monotonic() - started
        self.ready = True
        log.info("model %s loaded and warmed up in %.2fs", self.path, self.load_seconds)

    def warm_up(self) -> None:
        """The first call traces the graph (tens to hundreds of ms): pay it before reporting ready."""
        self._call(np.zeros((1, 64, 64, 3), np.uint8))

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """batch: uint8 [N, H, W, 3] -> the four Zoo outputs as numpy arrays with N rows."""
        if self._fn is None:
            raise ModelError("model is not loaded")
        step = self.fixed_batch
        if step is None or len(batch) == step:
            return self._call(batch)
        parts = [self._call(batch[i:i + step]) for i in range(0, len(batch), step)]
        return {name: np.concatenate([p[name] for p in parts]) for name in OUTPUTS}

    def _call(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import tensorflow as tf

        outputs = self._fn(**{INPUT: tf.constant(batch, dtype=tf.uint8)})
        return {name: outputs[name].numpy() for name in OUTPUTS}


def _check_signature(fn: Any) -> int | None:
    """Raise ModelError unless fn has the Zoo contract; return its fixed batch size, if any."""
    _, inputs = fn.structured_input_signature
    if set(inputs) != {INPUT}:
        raise ModelError(f"signature {SIGNATURE!r} must take one input {INPUT!r}, takes {sorted(inputs)}")
    spec = inputs[INPUT]
    if spec.dtype.name != "uint8" or spec.shape.rank != 4 or spec.shape[-1] not in (None, 3):
        raise ModelError(f"{INPUT!r} must be uint8 [N,H,W,3], is {spec.dtype.name} {spec.shape}")
    missing = [name for name in OUTPUTS if name not in fn.structured_outputs]
    if missing:
        raise ModelError(f"signature {SIGNATURE!r} lacks the detection outputs {missing}")
    return spec.shape[0]
