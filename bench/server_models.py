"""Benchmark models with the Detection Zoo signature, by compute cost.

- "tiny": tests/support/zoo_model.py's model (~1-5 ms per image): HTTP and JSON dominate.
- "mobile": same signature and outputs, a conv stack of about 0.6 GMAC per 320x320 image, close to
  SSD MobileNet v2 320's ~0.8 GMAC: what a real Zoo model costs a CPU, so the serving overhead
  shows at its realistic share. Random weights: the boxes mean nothing, the cost is real.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MAX_DETECTIONS = 100
# (out channels, stride) per 3x3 conv; input 3 channels.
MOBILE_LAYERS = ((32, 2), (64, 2), (128, 2), (128, 1), (256, 2), (256, 1))


def _mobile_module(num_classes: int = 90):
    import tensorflow as tf

    rng = np.random.RandomState(4321)
    weights, cin = [], 3
    for cout, stride in MOBILE_LAYERS:
        w = rng.normal(0, np.sqrt(2.0 / (9 * cin)), (3, 3, cin, cout)).astype(np.float32)
        weights.append((tf.Variable(w), stride))
        cin = cout
    box_w = tf.Variable(rng.normal(0, 0.05, (1, 1, cin, 4)).astype(np.float32))
    cls_w = tf.Variable(rng.normal(0, 0.05, (1, 1, cin, num_classes)).astype(np.float32))
    cls_b = tf.Variable(np.full((num_classes,), -2.0, np.float32))

    class MobileSSD(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="mobile_ssd")
            self.convs = weights
            self.box_w, self.cls_w, self.cls_b = box_w, cls_w, cls_b

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="input_tensor")])
        def serve(self, input_tensor):
            x = tf.cast(input_tensor, tf.float32) / 127.5 - 1.0
            for w, stride in self.convs:
                x = tf.nn.relu6(tf.nn.conv2d(x, w, stride, "SAME"))
            n, h, w_ = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
            ys = (tf.cast(tf.range(h), tf.float32) + 0.5) / tf.cast(h, tf.float32)
            xs = (tf.cast(tf.range(w_), tf.float32) + 0.5) / tf.cast(w_, tf.float32)
            cy, cx = tf.meshgrid(ys, xs, indexing="ij")
            half_h = 2.0 * tf.ones_like(cy) / tf.cast(h, tf.float32)
            half_w = 2.0 * tf.ones_like(cx) / tf.cast(w_, tf.float32)
            anchors = tf.stack([cy - half_h, cx - half_w, cy + half_h, cx + half_w], -1)
            deltas = 0.1 * tf.tanh(tf.nn.conv2d(x, self.box_w, 1, "SAME"))
            boxes = tf.reshape(anchors[None] + deltas, [n, -1, 1, 4])
            scores = tf.reshape(tf.sigmoid(tf.nn.conv2d(x, self.cls_w, 1, "SAME") + self.cls_b), [n, -1, num_classes])
            nms = tf.image.combined_non_max_suppression(
                boxes, scores, max_output_size_per_class=MAX_DETECTIONS, max_total_size=MAX_DETECTIONS,
                iou_threshold=0.5, score_threshold=0.01, pad_per_class=False, clip_boxes=True,
            )
            return {
                "detection_boxes": nms.nmsed_boxes,
                "detection_scores": nms.nmsed_scores,
                "detection_classes": nms.nmsed_classes + 1.0,
                "num_detections": tf.cast(nms.valid_detections, tf.float32),
            }

    return MobileSSD()


def build(kind: str, dest: Path) -> Path:
    import tensorflow as tf

    if kind == "tiny":
        sys.path.insert(0, str(ROOT))
        from tests.support.zoo_model import build_zoo_savedmodel

        return build_zoo_savedmodel(dest)
    if kind == "mobile":
        module = _mobile_module()
        tf.saved_model.save(module, str(dest), signatures={"serving_default": module.serve})
        return dest
    raise ValueError(f"unknown model kind {kind!r}: tiny or mobile")
