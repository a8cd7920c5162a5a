"""The benchmark's one image and its request bodies: identical bytes for every server measured.

Plain numpy + Pillow, no TensorFlow, so the load generator stays light.
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
