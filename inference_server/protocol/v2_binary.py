"""The Open Inference Protocol's binary tensor data extension (as Triton and KServe define it) on
/infer: a JSON header, then raw little-endian tensor bytes; `Inference-Header-Content-Length`
says where the JSON ends. Requests without that header are plain JSON (v2.py).

Inputs announce their bytes with `parameters.binary_data_size`; outputs come back binary when an
output asks (`parameters.binary_data: true`) or the request asks for all
(`parameters.binary_data_output: true`), in the same framing.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import signature
from ..errors import BadInput
from ..limits import Limits
from . import datatypes, v2
from .tensors import DEFAULT_LIMITS

HEADER = "inference-header-content-length"
OCTET_STREAM = "application/octet-stream"


def read_infer(body: bytes, header_length: str | None,
               limits: Limits = DEFAULT_LIMITS) -> tuple[v2.InferRequest, np.ndarray]:
    """Either framing -> (request, checked image batch). Every size is checked against the body,
    the shape and the datatype before a byte is copied; the batch is a view of the body."""
    if header_length is None:
        return v2.read_infer(body, limits)
    view = memoryview(body)
    split = _header_length(header_length, len(body))
    request = v2.parse_infer(bytes(view[:split]))
    raw = _binary_inputs(request, view[split:])
    return request, v2.decode_infer(request, raw, limits)


def _header_length(text: str, body_size: int) -> int:
    if not text.strip().isdigit():
        raise BadInput(f"Inference-Header-Content-Length must be a byte count, got {text!r}")
    length = int(text)
    if length > body_size:
        raise BadInput(f"Inference-Header-Content-Length is {length} but the body has only {body_size} bytes")
    if length == 0:
        raise BadInput("Inference-Header-Content-Length is 0: the JSON header is missing")
    return length


def _binary_inputs(request: v2.InferRequest, tail: memoryview) -> list[memoryview | None]:
    """Each input's slice of the binary part, in input order."""
    sizes: list[int | None] = []
    for tensor in request.inputs:
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is None:
            sizes.append(None)
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BadInput(f"{tensor.name}: parameters.binary_data_size must be a byte count, got {size!r}")
        if tensor.data:
            raise BadInput(f"{tensor.name}: give either data or parameters.binary_data_size, not both")
        expected = datatypes.byte_size(tensor.datatype, tensor.shape) if min(tensor.shape, default=0) >= 0 else None
        if expected is None and tensor.datatype not in datatypes.KNOWN:
            raise BadInput(f"{tensor.name}: unknown datatype {tensor.datatype!r}")
        if expected is not None and expected != size:
            raise BadInput(f"{tensor.name}: shape {tensor.shape} of {tensor.datatype} needs {expected} bytes, "
                           f"parameters.binary_data_size is {size}")
        sizes.append(size)
    announced = sum(s for s in sizes if s is not None)
    if announced != len(tail):
        raise BadInput(f"the inputs announce {announced} bytes of binary data (parameters.binary_data_size) but the "
                       f"body has {len(tail)} after the {HEADER.title()} JSON header")
    slices: list[memoryview | None] = []
    start = 0
    for size in sizes:
        slices.append(None if size is None else tail[start:start + size])
        start += size or 0
    return slices


def binary_outputs(request: v2.InferRequest, names: list[str]) -> set[str]:
    """The outputs to send as binary data."""
    everything = _flag((request.parameters or {}).get("binary_data_output"), "parameters.binary_data_output")
    asked = {o.name: o.parameters or {} for o in request.outputs or []}
    chosen = set()
    for name in names:
        own = asked.get(name, {}).get("binary_data")
        if _flag(own, f"outputs[{name}].parameters.binary_data") if own is not None else everything:
            chosen.add(name)
    return chosen


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadInput(f"{where} must be true or false, got {value!r}")
    return value


def encode_infer(model: str, request: v2.InferRequest, outputs: dict[str, np.ndarray]) -> tuple[bytes, dict[str, str]]:
    """(body, headers): plain JSON when no output is binary, the framed form otherwise."""
    names = v2.wanted_outputs(request, outputs)
    binary = binary_outputs(request, names)
    described, tail = [], []
    for name in names:
        value = outputs[name]
        entry: dict[str, Any] = {"name": name, "datatype": datatypes.name_of(value), "shape": list(value.shape)}
        if name in binary:
            data = datatypes.raw_bytes(value)
            entry["parameters"] = {"binary_data_size": len(data)}
            tail.append(data)
        else:
            entry["data"] = value.reshape(-1).tolist()
        described.append(entry)
    header = {"model_name": model, "model_version": signature.MODEL_VERSION, "outputs": described}
    if request.id is not None:
        header["id"] = request.id
    text = json.dumps(header, separators=(",", ":")).encode()
    if not tail:
        return text, {"content-type": "application/json"}
    return b"".join([text, *tail]), {"content-type": OCTET_STREAM, HEADER: str(len(text))}
