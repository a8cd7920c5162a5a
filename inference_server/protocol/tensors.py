"""JSON numbers -> a checked uint8 image batch [N, H, W, 3] (shared by v1 and v2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BadInput


def to_image_batch(data: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise BadInput(f"{what}: not a rectangular array of numbers ({exc})") from exc
    return check_image_batch(array, what)


def check_image_batch(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "iu":
        kind = "booleans" if array.dtype.kind == "b" else f"{array.dtype} values"
        raise BadInput(f"{what}: expected integers 0-255 (uint8 pixels), got {kind}")
    if array.ndim != 4 or array.shape[-1] != 3 or 0 in array.shape:
        raise BadInput(f"{what}: expected shape [N, H, W, 3] with N, H, W >= 1, got {list(array.shape)}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise BadInput(f"{what}: pixel values must be within 0-255 (uint8)")
    return array.astype(np.uint8, copy=False)
