"""Open Inference Protocol (KServe v2) REST: metadata, readiness and /infer with JSON tensors
(v2_binary.py adds the binary tensor data extension on top of these models)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from .. import signature
from ..errors import BadInput
from ..limits import Limits
from .jsonbody import fast_or_exact, load_object, validate
from .tensors import DEFAULT_LIMITS, TensorIn, decode_image_input

SERVER_NAME = "detector-server"
EXTENSIONS = ["binary_tensor_data"]  # announced by GET /v2 and gRPC ServerMetadata


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str] = []


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReady(BaseModel):
    name: str
    ready: bool


class InferInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = Field(None, description="row-major, flat or nested; absent when the tensor comes as "
                                   "binary data after the JSON (parameters.binary_data_size)")
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] | None = None


# InferOutput and InferResponse document /infer's JSON answer in the OpenAPI schema (routes.py);
# v2_binary.encode_infer writes it, JSON or framed with binary outputs.
class InferOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[float] | None = None
    parameters: dict[str, Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str = signature.MODEL_VERSION
    id: str | None = None
    outputs: list[InferOutput]


def model_metadata(name: str) -> ModelMetadata:
    return ModelMetadata(
        name=name, versions=[signature.MODEL_VERSION], platform=signature.PLATFORM,
        inputs=[TensorMetadata(name=signature.INPUT, datatype=signature.INPUT_DATATYPE,
                               shape=list(signature.INPUT_SHAPE))],
        outputs=[TensorMetadata(name=n, datatype=signature.OUTPUT_DATATYPE, shape=list(s))
                 for n, s in signature.OUTPUT_SHAPES.items()],
    )


def read_infer(body: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[InferRequest, np.ndarray]:
    def decode(raw: bytes, fast: bool) -> tuple[InferRequest, np.ndarray]:
        request = parse_infer(raw, fast=fast)
        return request, decode_infer(request, limits=limits)
    return fast_or_exact(decode, body)


def parse_infer(body: bytes, *, fast: bool = False) -> InferRequest:
    """Raw JSON -> InferRequest; every tensor's `data` list is left for decode_infer to check
    (with fast, a big one is an ndarray already)."""
    data = load_object(body, fast=fast)
    pixels: list[list[Any] | None] = []
    inputs = data.get("inputs")
    for tensor in inputs if isinstance(inputs, list) else []:
        if isinstance(tensor, dict) and isinstance(tensor.get("data"), list | np.ndarray):
            pixels.append(tensor["data"])
            tensor["data"] = []  # validated as a list; its numbers are numpy's job
        else:
            pixels.append(None)  # pydantic reports what is wrong with this one
    request = validate(InferRequest, data)
    for tensor, values in zip(request.inputs, pixels, strict=True):  # one entry per input, by construction
        if values is not None:
            tensor.data = values
    return request


def decode_infer(request: InferRequest, raw: list[memoryview | None] | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """The request's input as a checked batch; raw[i] is input i's binary data, if it came so."""
    check_outputs(request)
    raw = raw or [None] * len(request.inputs)
    return decode_image_input([
        TensorIn(t.name, t.datatype, t.shape, values=t.data, raw=data)
        for t, data in zip(request.inputs, raw, strict=True)  # raw: one slice per input (v2_binary)
    ], limits)


def check_outputs(request: InferRequest) -> None:
    check_output_names([o.name for o in request.outputs or []])


def check_output_names(names: list[str]) -> None:
    """Outputs a request asks for (REST and gRPC alike): each must be one of the model's."""
    unknown = sorted(set(names) - set(signature.OUTPUTS))
    if unknown:
        raise BadInput(f"unknown outputs {unknown}; this model has {sorted(signature.OUTPUTS)}")


def wanted_outputs(request: InferRequest, outputs: dict[str, np.ndarray]) -> list[str]:
    return [o.name for o in request.outputs] if request.outputs else list(outputs)

