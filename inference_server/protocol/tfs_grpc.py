"""TF Serving's gRPC API (`tensorflow.serving.PredictionService` Predict and GetModelMetadata,
`ModelService` GetModelStatus) with the message definitions TF Serving publishes
(tensorflow-serving-api): TensorProtos <-> the same checked batch, metadata and status as REST.

Importing this imports TensorFlow (TensorProto is TensorFlow's own message).
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2, predict_pb2

from .. import signature
from ..errors import BadInput
from ..limits import Limits
from . import datatypes, v1, v2
from .tensors import DEFAULT_LIMITS, TensorIn, decode_image_input

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
PREDICT_METHOD = "tensorflow/serving/predict"
# TensorFlow dtype <-> Open Inference Protocol datatype, for the datatypes a detector meets.
_TF_TYPES = {
    types_pb2.DT_UINT8: "UINT8", types_pb2.DT_INT8: "INT8", types_pb2.DT_UINT16: "UINT16",
    types_pb2.DT_INT16: "INT16", types_pb2.DT_INT32: "INT32", types_pb2.DT_INT64: "INT64",
    types_pb2.DT_UINT32: "UINT32", types_pb2.DT_UINT64: "UINT64", types_pb2.DT_HALF: "FP16",
    types_pb2.DT_FLOAT: "FP32", types_pb2.DT_DOUBLE: "FP64", types_pb2.DT_BOOL: "BOOL",
    types_pb2.DT_STRING: "BYTES",
}
_OIP_TO_TF = {name: dtype for dtype, name in _TF_TYPES.items()}
# Where a TensorProto without tensor_content keeps the values of each dtype.
_VALUE_FIELDS = {
    types_pb2.DT_UINT8: "int_val", types_pb2.DT_INT8: "int_val", types_pb2.DT_INT16: "int_val",
    types_pb2.DT_UINT16: "int_val", types_pb2.DT_INT32: "int_val", types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_BOOL: "bool_val",
}


def model_target(spec: model_pb2.ModelSpec) -> tuple[str, str | None]:
    """(model name, version or None) from a ModelSpec; the signature must be the Zoo's."""
    v1.check_signature_name(spec.signature_name)
    if spec.HasField("version"):
        return spec.name, str(spec.version.value)
    if spec.version_label:
        return spec.name, spec.version_label
    return spec.name, None


def is_typed(request: predict_pb2.PredictRequest) -> bool:
    """Values in *_val fields (walked in Python) rather than tensor_content. Reading
    tensor_content would copy the image: the typed fields' lengths tell it for free."""
    return any(len(getattr(t, _VALUE_FIELDS[t.dtype])) for t in request.inputs.values() if t.dtype in _VALUE_FIELDS)


def decode_predict(request: predict_pb2.PredictRequest,
                   limits: Limits = DEFAULT_LIMITS) -> tuple[list[str], np.ndarray]:
    """-> (the outputs to answer, the checked image batch)."""
    names = list(request.output_filter)
    v2.check_output_names(names)
    tensors = [_tensor_in(name, proto) for name, proto in request.inputs.items()]
    return names or list(signature.OUTPUTS), decode_image_input(tensors, limits)


def _tensor_in(name: str, proto: tensor_pb2.TensorProto) -> TensorIn:
    datatype = _TF_TYPES.get(proto.dtype, types_pb2.DataType.Name(proto.dtype))
    if proto.tensor_shape.unknown_rank:
        raise BadInput(f"{name}: the tensor_shape must be known")
    shape = [dim.size for dim in proto.tensor_shape.dim]
    content = proto.tensor_content  # each read copies the bytes: once
    if content:
        return TensorIn(name, datatype, shape, raw=content)
    field = _VALUE_FIELDS.get(proto.dtype)
    values = getattr(proto, field) if field else []
    if len(values) == 1 and math.prod(shape) > 1:
        # TF's shorthand, one value fills the tensor: left to decode_image_input, which checks the
        # datatype, shape and limits first and never materialises it (a 51-byte call once asked 9 GB).
        return TensorIn(name, datatype, shape, fill=values[0])
    array = np.fromiter(values, np.int64, len(values)) if field in ("int_val", "int64_val") else list(values)
    return TensorIn(name, datatype, shape, values=array)


def _shape(dims: tuple[int, ...] | list[int]) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])


def _spec(name: str) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name, signature_name=signature.SIGNATURE)
    spec.version.value = int(signature.MODEL_VERSION)
    return spec


def encode_predict(model: str, names: list[str], outputs: dict[str, np.ndarray]) -> predict_pb2.PredictResponse:
    response = predict_pb2.PredictResponse(model_spec=_spec(model))
    for name in names:
        value = outputs[name]
        tensor = response.outputs[name]
        tensor.dtype = _OIP_TO_TF[datatypes.name_of(value)]
        tensor.tensor_shape.CopyFrom(_shape(value.shape))
        tensor.tensor_content = datatypes.raw_bytes(value)
    return response


def model_metadata(model: str, request: get_model_metadata_pb2.GetModelMetadataRequest
                   ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    fields = list(request.metadata_field)
    if fields != ["signature_def"]:
        raise BadInput(f"metadata_field must be ['signature_def'] (the only metadata there is), got {fields}")
    meta = v2.model_metadata(model)
    sig = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    for tensors, into in ((meta.inputs, sig.inputs), (meta.outputs, sig.outputs)):
        for t in tensors:
            into[t.name].CopyFrom(meta_graph_pb2.TensorInfo(
                name=f"{signature.SIGNATURE}_{t.name}:0", dtype=_OIP_TO_TF[t.datatype], tensor_shape=_shape(t.shape)))
    defs = get_model_metadata_pb2.SignatureDefMap()
    defs.signature_def[signature.SIGNATURE].CopyFrom(sig)
    response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=_spec(model))
    response.metadata["signature_def"].Pack(defs)
    return response


def model_status(ready: bool, error: str | None) -> get_model_status_pb2.GetModelStatusResponse:
    """The REST model status (v1.model_status), as TF Serving's message."""
    rest = v1.model_status(ready, error).model_version_status[0]
    response = get_model_status_pb2.GetModelStatusResponse()
    status = response.model_version_status.add(
        version=int(rest.version), state=get_model_status_pb2.ModelVersionStatus.State.Value(rest.state))
    code = status.status.DESCRIPTOR.fields_by_name["error_code"].enum_type.values_by_name[rest.status["error_code"]]
    status.status.error_code = code.number
    status.status.error_message = rest.status["error_message"]
    return response
