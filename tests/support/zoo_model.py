"""A tiny SavedModel with the TF2 Detection Model Zoo serving signature, built with real TensorFlow.

Real Zoo models cannot be downloaded here, and they weigh tens of megabytes; this one is ~170 KB,
builds in well under a second and answers in a few milliseconds, yet has the exact contract the
server relies on: `serving_default`, uint8 `input_tensor` [N,H,W,3] with dynamic N/H/W, and
`detection_boxes|scores|classes`, `num_detections` padded to 100 by combined NMS.
"""

from __future__ import annotations

import itertools
import shutil
import tarfile
from pathlib import Path

import numpy as np

MAX_DETECTIONS = 100
_SEED = 1234
_CHANNELS = (3, 8, 16, 16, 16)


def _weights(num_classes: int) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(_SEED)
    w: dict[str, np.ndarray] = {}
    for i, (cin, cout) in enumerate(itertools.pairwise(_CHANNELS)):
        w[f"conv{i}"] = rng.normal(0, np.sqrt(2.0 / (9 * cin)), (3, 3, cin, cout)).astype(np.float32)
        w[f"bias{i}"] = np.full((cout,), 0.05, np.float32)
    feat = _CHANNELS[-1]
    w["box"] = rng.normal(0, 0.5, (1, 1, feat, 4)).astype(np.float32)
    w["cls"] = rng.normal(0, 0.5, (1, 1, feat, num_classes)).astype(np.float32)
    # Biased so ordinary images give a handful of confident boxes for a few classes (1 = person).
    cls_bias = np.full((num_classes,), -6.0, np.float32)
    cls_bias[[0, 2, 17]] = [-1.6, -2.0, -2.4]
    w["cls_bias"] = cls_bias
    return w


def _module(num_classes: int, batch_size: int | None, first_call_seconds: float):
    import tensorflow as tf

    class TinySSD(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="tiny_ssd")
            self.w = {k: tf.Variable(v, name=k) for k, v in _weights(num_classes).items()}
            self.called = tf.Variable(False, name="called")  # saved False: every load starts slow

        def _first_call_wait(self):
            """Spins until first_call_seconds have passed, once per load: a model whose warm-up is
            slow, as big models' first calls (graph optimisation, autotuning) are."""
            start = tf.timestamp()
            waited = tf.while_loop(lambda t: t < first_call_seconds, lambda t: [tf.timestamp() - start],
                                   [tf.constant(0.0, tf.float64)])
            with tf.control_dependencies(waited):
                return self.called.assign(True)

        @tf.function(input_signature=[tf.TensorSpec([batch_size, None, None, 3], tf.uint8, name="input_tensor")])
        def serve(self, input_tensor):
            if first_call_seconds:
                done = tf.cond(self.called, lambda: tf.constant(True), self._first_call_wait)
                with tf.control_dependencies([done]):
                    input_tensor = tf.identity(input_tensor)
            x = tf.cast(input_tensor, tf.float32) / 255.0 - 0.5
            for i in range(len(_CHANNELS) - 1):
                x = tf.nn.relu(tf.nn.conv2d(x, self.w[f"conv{i}"], 2, "SAME") + self.w[f"bias{i}"])
            n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
            # One anchor per feature cell, about a third of the image, moved and scaled by the box head.
            ys = (tf.cast(tf.range(h), tf.float32) + 0.5) / tf.cast(h, tf.float32)
            xs = (tf.cast(tf.range(w), tf.float32) + 0.5) / tf.cast(w, tf.float32)
            cy, cx = tf.meshgrid(ys, xs, indexing="ij")
            d = tf.tanh(tf.nn.conv2d(x, self.w["box"], 1, "SAME"))
            cy, cx = cy + 0.05 * d[..., 0], cx + 0.05 * d[..., 1]
            hh, hw = 0.15 * tf.exp(0.5 * d[..., 2]), 0.15 * tf.exp(0.5 * d[..., 3])
            anchors = tf.stack([cy - hh, cx - hw, cy + hh, cx + hw], -1)
            boxes = tf.reshape(anchors, [n, -1, 1, 4])
            logits = tf.nn.conv2d(x, self.w["cls"], 1, "SAME") + self.w["cls_bias"]
            scores = tf.reshape(tf.sigmoid(logits), [n, -1, num_classes])
            nms = tf.image.combined_non_max_suppression(
                boxes, scores, max_output_size_per_class=MAX_DETECTIONS, max_total_size=MAX_DETECTIONS,
                iou_threshold=0.4, score_threshold=0.01, pad_per_class=False, clip_boxes=True,
            )
            return {
                "detection_boxes": nms.nmsed_boxes,
                "detection_scores": nms.nmsed_scores,
                "detection_classes": nms.nmsed_classes + 1.0,  # the Zoo's ids are 1-based
                "num_detections": tf.cast(nms.valid_detections, tf.float32),
            }

    return TinySSD()


def build_zoo_savedmodel(export_dir: Path, *, num_classes: int = 90, batch_size: int | None = None,
                         first_call_seconds: float = 0) -> Path:
    """Save the tiny detector at export_dir (export_dir/saved_model.pb) and return export_dir.

    batch_size=1 mimics the real Zoo exports, whose input_tensor is [1, None, None, 3].
    first_call_seconds > 0: the first call after each load takes that long (the server's warm-up
    makes it, so the model is that slow to become ready)."""
    import tensorflow as tf

    export_dir = Path(export_dir)
    module = _module(num_classes, batch_size, first_call_seconds)
    tf.saved_model.save(module, str(export_dir), signatures={"serving_default": module.serve})
    return export_dir


def make_zoo_tarball(export_dir: Path, tar_path: Path, name: str = "tiny_ssd") -> Path:
    """Pack a SavedModel the way the Zoo ships it: <name>/saved_model/, pipeline.config, checkpoint/."""
    export_dir, tar_path = Path(export_dir), Path(tar_path)
    staging = tar_path.parent / f".{tar_path.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    root = staging / name
    shutil.copytree(export_dir, root / "saved_model")
    (root / "pipeline.config").write_text(
        "model {\n  ssd {\n    num_classes: 90\n    image_resizer { keep_aspect_ratio_resizer {} }\n  }\n}\n"
    )
    ckpt = root / "checkpoint"
    ckpt.mkdir()
    for src in (export_dir / "variables").iterdir():  # a SavedModel's variables are a TF checkpoint
        shutil.copy(src, ckpt / src.name.replace("variables", "ckpt-0"))
    (ckpt / "checkpoint").write_text('model_checkpoint_path: "ckpt-0"\n')
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    mode = "w:gz" if tar_path.name.endswith((".tar.gz", ".tgz")) else "w"
    with tarfile.open(tar_path, mode) as tar:
        tar.add(root, arcname=name)
    shutil.rmtree(staging)
    return tar_path
