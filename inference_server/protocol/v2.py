"""Open Inference Protocol (KServe v2) REST: metadata, readiness and /infer with JSON tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..errors import BadInput
from .jsonbody import fast_or_exact, load_object, validate
from .tensors import check_image_batch

INPUT = "input_tensor"
OUTPUT_SHAPES = {
    "detection_boxes": [-1, 100, 4],
    "detection_scores": [-1, 100],
    "detection_classes": [-1, 100],
    "num_detections": [-1],
}


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
    data: list[Any] = Field(description="row-major, flat or nested")
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] | None = None


class InferOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[float]


class InferResponse(BaseModel):
    model_name: str
    model_version: str = "1"
    id: str | None = None
    outputs: list[InferOutput]


def model_metadata(name: str) -> ModelMetadata:
    return ModelMetadata(
        name=name, versions=["1"], platform="tensorflow_savedmodel",
        inputs=[TensorMetadata(name=INPUT, datatype="UINT8", shape=[-1, -1, -1, 3])],
        outputs=[TensorMetadata(name=n, datatype="FP32", shape=s) for n, s in OUTPUT_SHAPES.items()],
    )


def read_infer(body: bytes) -> tuple[InferRequest, np.ndarray]:
    def decode(raw: bytes, fast: bool) -> tuple[InferRequest, np.ndarray]:
        request = parse_infer(raw, fast=fast)
        return request, decode_infer(request)
    return fast_or_exact(decode, body)


def parse_infer(body: bytes, *, fast: bool = False) -> InferRequest:
    """Raw JSON -> InferRequest; every tensor's `data` list is left for decode_infer to check
    (with fast, a big one is an ndarray already)."""
    data = load_object(body, fast=fast)
    pixels: list[list[Any] | None] = []
    for tensor in data.get("inputs") if isinstance(data.get("inputs"), list) else []:
        if isinstance(tensor, dict) and isinstance(tensor.get("data"), list | np.ndarray):
            pixels.append(tensor["data"])
            tensor["data"] = []  # validated as a list; its numbers are numpy's job
        else:
            pixels.append(None)  # pydantic reports what is wrong with this one
    request = validate(InferRequest, data)
    for tensor, values in zip(request.inputs, pixels):
        if values is not None:
            tensor.data = values
    return request


def decode_infer(request: InferRequest) -> np.ndarray:
    """Checked before inference: a bad request never costs a model call."""
    unknown = sorted({o.name for o in request.outputs or []} - set(OUTPUT_SHAPES))
    if unknown:
        raise BadInput(f"unknown outputs {unknown}; this model has {sorted(OUTPUT_SHAPES)}")
    if len(request.inputs) != 1 or request.inputs[0].name != INPUT:
        raise BadInput(f"expected exactly one input named {INPUT!r}, got {[i.name for i in request.inputs]}")
    tensor = request.inputs[0]
    if tensor.datatype != "UINT8":
        raise BadInput(f"{INPUT}: datatype must be UINT8, got {tensor.datatype!r}")
    shape = tensor.shape
    if len(shape) != 4 or shape[-1] != 3 or min(shape) < 1:
        raise BadInput(f"{INPUT}: shape must be [N, H, W, 3] with N, H, W >= 1, got {shape}")
    try:
        flat = np.asarray(tensor.data).reshape(-1)
    except (ValueError, TypeError) as exc:
        raise BadInput(f"{INPUT}: data is not a rectangular array of numbers ({exc})") from exc
    if flat.size != int(np.prod(shape)):
        raise BadInput(f"{INPUT}: shape {shape} needs {int(np.prod(shape))} values, data has {flat.size}")
    return check_image_batch(flat.reshape(shape), INPUT)


def encode_infer(model: str, request: InferRequest, outputs: dict[str, np.ndarray]) -> InferResponse:
    wanted = [o.name for o in request.outputs] if request.outputs else list(outputs)
    return InferResponse(
        model_name=model, id=request.id,
        outputs=[
            InferOutput(name=n, shape=list(outputs[n].shape), datatype="FP32", data=outputs[n].reshape(-1).tolist())
            for n in wanted
        ],
    )
