"""The one check every protocol's image input goes through: whatever the wire (JSON numbers, the
binary REST extension, gRPC typed or raw contents, a TF Serving TensorProto), a request becomes
a checked uint8 batch [N, H, W, 3] here, with the same words for the same mistake."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadInput
from ..limits import Limits
from ..signature import INPUT, INPUT_DATATYPE

DEFAULT_LIMITS = Limits()  # for codec callers without a server (tests, tools); the server passes its own


@dataclass
class TensorIn:
    """One input tensor as received, before any check: `values` are numbers (nested or flat
    lists, an ndarray), `raw` is row-major little-endian bytes, `fill` is TF's one-value shorthand
    (one number fills the whole shape); at most one of them is set."""

    name: str
    datatype: str
    shape: list[int]
    values: Any = None
    raw: bytes | memoryview | None = None
    fill: int | float | bool | None = None


def decode_image_input(tensors: list[TensorIn], limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Checked before inference, by name, datatype, shape and the limits before a value is read:
    a bad or oversized request never costs an allocation of its size, nor a model call."""
    if len(tensors) != 1 or tensors[0].name != INPUT:
        raise BadInput(f"expected exactly one input named {INPUT!r}, got {[t.name for t in tensors]}")
    tensor = tensors[0]
    if tensor.datatype != INPUT_DATATYPE:
        raise BadInput(f"{INPUT}: datatype must be {INPUT_DATATYPE}, got {tensor.datatype!r}")
    shape = list(tensor.shape)
    if len(shape) != 4 or shape[-1] != 3 or min(shape) < 1:
        raise BadInput(f"{INPUT}: shape must be [N, H, W, 3] with N, H, W >= 1, got {shape}")
    limits.check_batch(shape, INPUT)
    count = math.prod(shape)
    if tensor.fill is not None:
        return _filled(tensor.fill, shape)
    if tensor.raw is not None:
        if len(tensor.raw) != count:
            raise BadInput(f"{INPUT}: shape {shape} of {INPUT_DATATYPE} needs {count} bytes, got {len(tensor.raw)}")
        return np.frombuffer(tensor.raw, np.uint8).reshape(shape)  # a view: nothing copied
    if tensor.values is None:
        raise BadInput(f"{INPUT}: no data (give `data`, or binary data with parameters.binary_data_size)")
    try:
        flat = np.asarray(tensor.values).reshape(-1)
    except (ValueError, TypeError) as exc:
        raise BadInput(f"{INPUT}: data is not a rectangular array of numbers ({exc})") from exc
    if flat.size != count:
        raise BadInput(f"{INPUT}: shape {shape} needs {count} values, data has {flat.size}")
    return check_image_batch(flat.reshape(shape), INPUT, limits)


def _filled(value: int | float | bool, shape: list[int]) -> np.ndarray:
    """TF's shorthand as a read-only broadcast view: one byte, whatever the shape (the model call
    copies it, within the limits already checked)."""
    if isinstance(value, bool) or not float(value).is_integer() or not 0 <= value <= 255:
        raise BadInput(f"{INPUT}: pixel values must be within 0-255 (uint8)")
    return np.broadcast_to(np.uint8(value), shape)


def to_image_batch(data: Any, what: str, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise BadInput(f"{what}: not a rectangular array of numbers ({exc})") from exc
    return check_image_batch(array, what, limits)


def check_image_batch(array: np.ndarray, what: str, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    if array.dtype.kind not in "iu":
        kind = "booleans" if array.dtype.kind == "b" else f"{array.dtype} values"
        raise BadInput(f"{what}: expected integers 0-255 (uint8 pixels), got {kind}")
    if array.ndim != 4 or array.shape[-1] != 3 or 0 in array.shape:
        raise BadInput(f"{what}: expected shape [N, H, W, 3] with N, H, W >= 1, got {list(array.shape)}")
    limits.check_batch(array.shape, what)
    if array.size and (array.min() < 0 or array.max() > 255):
        raise BadInput(f"{what}: pixel values must be within 0-255 (uint8)")
    return array.astype(np.uint8, copy=False)
