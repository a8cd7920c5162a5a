"""Open Inference Protocol over gRPC (`inference.GRPCInferenceService`): messages <-> the same
checked batch and metadata as REST (v2.py, tensors.py). Typed `contents` and
`raw_input_contents` are both read; the answer comes the way the question came (raw outputs
for raw inputs, typed contents for typed ones: tritonclient reads raw outputs only, and sends
raw inputs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import __version__, signature
from ..errors import BadInput
from ..limits import Limits
from . import datatypes, v2
from .oip import open_inference_grpc_pb2 as pb
from .tensors import DEFAULT_LIMITS, TensorIn, decode_image_input

SERVICE = "inference.GRPCInferenceService"


def is_typed(request: pb.ModelInferRequest) -> bool:
    """Typed contents cost a Python pass over every value: worth a worker thread."""
    return not request.raw_input_contents


def decode_infer(request: pb.ModelInferRequest, limits: Limits = DEFAULT_LIMITS) -> tuple[list[str], np.ndarray]:
    """-> (the outputs to answer, the checked image batch)."""
    names = [o.name for o in request.outputs]
    v2.check_output_names(names)
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadInput(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs")
    tensors = []
    for i, tensor in enumerate(request.inputs):
        has_contents = tensor.HasField("contents")
        if raw and has_contents:
            raise BadInput(f"{tensor.name}: give raw_input_contents or contents, not both")
        values = None if raw else _typed_values(tensor)
        tensors.append(TensorIn(tensor.name, tensor.datatype, list(tensor.shape), values=values,
                                raw=raw[i] if raw else None))
    return names or list(signature.OUTPUTS), decode_image_input(tensors, limits)


def _typed_values(tensor: pb.ModelInferRequest.InferInputTensor) -> np.ndarray | list[Any]:
    field = datatypes.CONTENTS_FIELD.get(tensor.datatype)
    contents = tensor.contents
    filled = [f.name for f, _ in contents.ListFields()]
    if field is None:
        return []  # an unknown datatype: the datatype check says so
    if filled and filled != [field]:
        raise BadInput(f"{tensor.name}: {tensor.datatype} values go in contents.{field}, got {filled}")
    values = getattr(contents, field)
    return np.fromiter(values, np.int64, len(values)) if field in ("uint_contents", "int_contents") else list(values)


def encode_infer(model: str, request: pb.ModelInferRequest, names: list[str],
                 outputs: dict[str, np.ndarray]) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=model, model_version=signature.MODEL_VERSION, id=request.id)
    raw = not is_typed(request)
    for name in names:
        value = outputs[name]
        datatype = datatypes.name_of(value)
        out = response.outputs.add(name=name, datatype=datatype, shape=value.shape)
        if raw:
            response.raw_output_contents.append(datatypes.raw_bytes(value))
        else:
            getattr(out.contents, datatypes.CONTENTS_FIELD[datatype]).extend(value.reshape(-1).tolist())
    return response


def server_metadata() -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(name=v2.SERVER_NAME, version=__version__, extensions=v2.EXTENSIONS)


def model_metadata(name: str) -> pb.ModelMetadataResponse:
    meta = v2.model_metadata(name)
    tensor = pb.ModelMetadataResponse.TensorMetadata
    return pb.ModelMetadataResponse(
        name=meta.name, versions=meta.versions, platform=meta.platform,
        inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.inputs],
        outputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.outputs],
    )
