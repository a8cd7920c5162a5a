"""Open Inference Protocol datatypes: their little-endian numpy form and byte sizes (one table for
the binary REST extension and gRPC's raw contents)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

NUMPY: dict[str, np.dtype] = {
    name: np.dtype(code) for name, code in {
        "BOOL": "?", "UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
        "INT8": "i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
        "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
    }.items()
}
ITEM_SIZES = {**{name: dtype.itemsize for name, dtype in NUMPY.items()}, "BF16": 2}
KNOWN = (*ITEM_SIZES, "BYTES")  # BYTES: length-prefixed strings, no fixed size
# Where gRPC's typed InferTensorContents keep each datatype's values.
CONTENTS_FIELD = {
    "BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}


def byte_size(datatype: str, shape: Sequence[int]) -> int | None:
    """Bytes a tensor of this datatype and shape takes raw; None for BYTES or an unknown name."""
    size = ITEM_SIZES.get(datatype)
    return None if size is None else size * math.prod(shape)


# Native byte order too: that is what numpy arrays from TensorFlow carry.
_NAMES = {**{dtype.newbyteorder("="): name for name, dtype in NUMPY.items()},
          **{dtype: name for name, dtype in NUMPY.items()}}


def name_of(array: np.ndarray) -> str:
    try:
        return _NAMES[array.dtype]
    except KeyError:
        raise ValueError(f"no Open Inference Protocol datatype for {array.dtype}") from None


def raw_bytes(array: np.ndarray) -> bytes:
    """Row-major little-endian bytes, as the protocol carries tensors."""
    return np.ascontiguousarray(array, dtype=NUMPY[name_of(array)]).tobytes()
