"""TF Serving REST API (v1): model status and :predict in row ("instances") or columnar ("inputs") form."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from ..errors import BadInput
from ..limits import Limits
from ..signature import INPUT, MODEL_VERSION, SIGNATURE
from .jsonbody import fast_or_exact, load_object, validate
from .tensors import DEFAULT_LIMITS, check_image_batch, to_image_batch


class PredictRequest(BaseModel):
    signature_name: str | None = Field(None, description=f"only {SIGNATURE} exists")
    instances: list[Any] | None = Field(
        None, description="row format: one [H][W][3] image (or {input_tensor: ...}) per item")
    inputs: Any = Field(None, description="columnar format: [N][H][W][3] or {input_tensor: [N][H][W][3]}")


class VersionStatus(BaseModel):
    version: str
    state: Literal["LOADING", "AVAILABLE", "END"]
    status: dict[str, str]


class ModelStatus(BaseModel):
    model_version_status: list[VersionStatus]


def model_status(ready: bool, error: str | None) -> ModelStatus:
    state = "AVAILABLE" if ready else ("END" if error else "LOADING")
    status = {"error_code": "UNKNOWN" if error else "OK", "error_message": error or ""}
    return ModelStatus(model_version_status=[VersionStatus(version=MODEL_VERSION, state=state, status=status)])


def read_predict(body: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[np.ndarray, Literal["row", "columnar"]]:
    return fast_or_exact(lambda raw, fast: decode_predict(parse_predict(raw, fast=fast), limits), body)


def parse_predict(body: bytes, *, fast: bool = False) -> PredictRequest:
    """Raw JSON -> PredictRequest; `instances`/`inputs` are left for decode_predict to check
    (with fast, big arrays in them are ndarrays already)."""
    data = load_object(body, fast=fast)
    pixels = {key: data.pop(key) for key in ("instances", "inputs") if key in data}
    if not isinstance(pixels.get("instances", []), list | np.ndarray | None):
        raise BadInput("invalid request: instances: must be a list (row format)")
    request = validate(PredictRequest, data)
    request.instances, request.inputs = pixels.get("instances"), pixels.get("inputs")
    return request


def decode_predict(request: PredictRequest,
                   limits: Limits = DEFAULT_LIMITS) -> tuple[np.ndarray, Literal["row", "columnar"]]:
    check_signature_name(request.signature_name)
    if (request.instances is None) == (request.inputs is None):
        raise BadInput("give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    instances: Any = request.instances  # declared a list, but parse_predict's fast path may put an ndarray here
    if isinstance(instances, np.ndarray):  # the fast path's whole [N][H][W][3]
        return check_image_batch(instances, "instances", limits), "row"
    if request.instances is not None:
        if not request.instances:
            raise BadInput("'instances' is empty")
        rows = [_named(item, "instances[]") for item in request.instances]
        return to_image_batch(rows, "instances", limits), "row"
    return to_image_batch(_named(request.inputs, "inputs"), "inputs", limits), "columnar"


def check_signature_name(name: str | None) -> None:
    """TF Serving's signature_name (REST and gRPC); empty means the default."""
    if name not in (None, "", SIGNATURE):
        raise BadInput(f"unknown signature_name {name!r}; only {SIGNATURE!r} exists")


def _named(value: Any, where: str) -> Any:
    """TF Serving allows {input_name: value} as well as the bare value for single-input models."""
    if isinstance(value, dict):
        if set(value) != {INPUT}:
            raise BadInput(f"{where}: the only input is {INPUT!r}, got {sorted(value)}")
        return value[INPUT]
    return value


def encode_predict(outputs: dict[str, np.ndarray], form: Literal["row", "columnar"]) -> dict[str, Any]:
    if form == "columnar":
        return {"outputs": {name: value.tolist() for name, value in outputs.items()}}
    count = len(next(iter(outputs.values())))
    return {"predictions": [{name: value[i].tolist() for name, value in outputs.items()} for i in range(count)]}
