"""Deterministic test pictures as arrays and as JPEG/PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def picture(width: int = 320, height: int = 240, seed: int = 0) -> np.ndarray:
    """A gradient background with a few solid rectangles: 'ordinary' enough for the tiny model."""
    rng = np.random.RandomState(seed)
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.linspace(0, 200, width, dtype=np.uint8)[None, :]
    image[..., 1] = np.linspace(30, 160, height, dtype=np.uint8)[:, None]
    for _ in range(3):
        x0, y0 = rng.randint(0, width // 2), rng.randint(0, height // 2)
        w, h = rng.randint(width // 8, width // 2), rng.randint(height // 8, height // 2)
        image[y0:y0 + h, x0:x0 + w] = rng.randint(0, 256, 3)
    return image


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format=fmt)
    return out.getvalue()
