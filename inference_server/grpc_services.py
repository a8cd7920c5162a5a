"""gRPC servicers: thin glue between the protocol codecs and the dataplane, as rest/ is for HTTP.
Every RPC goes through `rpc`: typed errors become gRPC status codes from errors.py's table (never
UNKNOWN), and requests are counted in the same metrics as HTTP's."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from .dataplane import DataPlane
from .errors import DeadlineExceeded, ServerError, grpc_code
from .protocol import tfs_grpc, v2_grpc
from .protocol.oip import open_inference_grpc_pb2 as pb
from .protocol.oip import open_inference_grpc_pb2_grpc as pb_grpc
from .readiness import Readiness

log = logging.getLogger(__name__)
T = TypeVar("T")
Method = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def rpc(service: str) -> Callable[[Method], Method]:
    def decorate(method: Method) -> Method:
        endpoint = f"/{service}/{method.__name__}"

        @functools.wraps(method)  # noqa: RET503 (the handler ends in context.abort, which raises)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            metrics = self.plane.metrics
            started, code, message = time.perf_counter(), "OK", ""
            metrics.in_flight.inc()
            try:
                if context.time_remaining() is None:  # no deadline of its own: the server's default
                    limit = self.plane.config.grpc_deadline_seconds
                    try:
                        async with asyncio.timeout(limit):
                            return await method(self, request, context)
                    except TimeoutError:
                        raise DeadlineExceeded(f"{endpoint} ran past the server's default deadline of {limit:g} s "
                                               "(--grpc-deadline-seconds); set a deadline on the call") from None
                return await method(self, request, context)
            except ServerError as exc:
                code, message = grpc_code(exc), str(exc)
            except Exception as exc:  # a bug: say what it was, as HTTP's 500 does
                log.exception("%s failed", endpoint)
                code, message = "INTERNAL", f"{type(exc).__name__}: {exc}"
            finally:
                metrics.in_flight.dec()
                metrics.observe_request(endpoint, "gRPC", code, time.perf_counter() - started)
            await context.abort(grpc.StatusCode[code], message)

        return handler
    return decorate


async def _decode(typed: bool, decode: Callable[[], T]) -> T:
    """Typed values are walked in Python: off the loop. Raw bytes are only sliced: in place."""
    return await asyncio.to_thread(decode) if typed else decode()


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """The Open Inference Protocol's GRPCInferenceService."""

    def __init__(self, plane: DataPlane, readiness: Readiness) -> None:
        self.plane, self.readiness = plane, readiness

    @rpc(v2_grpc.SERVICE)
    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    @rpc(v2_grpc.SERVICE)
    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.readiness.accepting)

    @rpc(v2_grpc.SERVICE)
    async def ModelReady(self, request, context):
        self.plane.check_model(request.name, request.version)
        return pb.ModelReadyResponse(ready=self.plane.ready)

    @rpc(v2_grpc.SERVICE)
    async def ServerMetadata(self, request, context):
        return v2_grpc.server_metadata()

    @rpc(v2_grpc.SERVICE)
    async def ModelMetadata(self, request, context):
        self.plane.check_model(request.name, request.version)
        return v2_grpc.model_metadata(request.name)

    @rpc(v2_grpc.SERVICE)
    async def ModelInfer(self, request, context):
        self.plane.check_model(request.model_name, request.model_version)
        limits = self.plane.limits
        names, images = await _decode(v2_grpc.is_typed(request), lambda: v2_grpc.decode_infer(request, limits))
        outputs = await self.plane.infer(images)
        return v2_grpc.encode_infer(request.model_name, request, names, outputs)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """TF Serving's Predict and GetModelMetadata (Classify, Regress, MultiInference: UNIMPLEMENTED)."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    @rpc(tfs_grpc.PREDICTION_SERVICE)
    async def Predict(self, request, context):
        name, version = tfs_grpc.model_target(request.model_spec)
        self.plane.check_model(name, version)
        limits = self.plane.limits
        names, images = await _decode(tfs_grpc.is_typed(request), lambda: tfs_grpc.decode_predict(request, limits))
        outputs = await self.plane.infer(images)
        return tfs_grpc.encode_predict(name, names, outputs)

    @rpc(tfs_grpc.PREDICTION_SERVICE)
    async def GetModelMetadata(self, request, context):
        name, version = tfs_grpc.model_target(request.model_spec)
        self.plane.check_model(name, version)
        return tfs_grpc.model_metadata(name, request)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """TF Serving's GetModelStatus (HandleReloadConfigRequest: UNIMPLEMENTED, the model is fixed)."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    @rpc(tfs_grpc.MODEL_SERVICE)
    async def GetModelStatus(self, request, context):
        name, version = tfs_grpc.model_target(request.model_spec)
        self.plane.check_model(name, version)
        return tfs_grpc.model_status(self.plane.ready, self.plane.error)


def add_services(server: grpc.aio.Server, plane: DataPlane, readiness: Readiness) -> list[str]:
    """Register every servicer; returns their full names (for health and logs)."""
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(plane, readiness), server)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(plane), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(plane), server)
    return [v2_grpc.SERVICE, tfs_grpc.PREDICTION_SERVICE, tfs_grpc.MODEL_SERVICE]
