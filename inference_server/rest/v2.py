"""The Open Inference Protocol (v2) over REST: server and model metadata, model readiness, and
inference with JSON tensors or the binary tensor data extension."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import __version__
from ..protocol import v2, v2_binary
from .common import dataplane, json_body

router = APIRouter()


def _infer_body() -> dict[str, Any]:
    """JSON, or the binary tensor data extension: the JSON header then raw tensor bytes."""
    spec = json_body(v2.InferRequest)
    spec["requestBody"]["content"][v2_binary.OCTET_STREAM] = {"schema": {"type": "string", "format": "binary"}}
    spec["parameters"] = [{
        "name": "Inference-Header-Content-Length", "in": "header", "required": False,
        "description": "length of the JSON header when binary tensor data follows it",
        "schema": {"type": "integer", "minimum": 0},
    }]
    return spec


@router.get("/v2", tags=["v2"])
async def server_metadata() -> v2.ServerMetadata:
    return v2.ServerMetadata(name=v2.SERVER_NAME, version=__version__, extensions=v2.EXTENSIONS)


@router.get("/v2/models/{name}", tags=["v2"])
async def model_metadata(name: str, request: Request) -> v2.ModelMetadata:
    dataplane(request).check_model(name)
    return v2.model_metadata(name)


@router.get("/v2/models/{name}/versions/{version}", tags=["v2"])
async def version_metadata(name: str, version: str, request: Request) -> v2.ModelMetadata:
    dataplane(request).check_model(name, version)
    return v2.model_metadata(name)


@router.get("/v2/models/{name}/ready", tags=["v2"])
async def model_ready(name: str, request: Request) -> v2.ModelReady:
    return _ready(name, None, request)


@router.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
async def version_ready(name: str, version: str, request: Request) -> v2.ModelReady:
    return _ready(name, version, request)


def _ready(name: str, version: str | None, request: Request) -> v2.ModelReady:
    plane = dataplane(request)
    plane.check_model(name, version)
    plane.check_ready()
    return v2.ModelReady(name=name, ready=True)


_INFER: dict[str, Any] = {"tags": ["v2"], "openapi_extra": _infer_body(),
                          "responses": {200: {"model": v2.InferResponse}}}


@router.post("/v2/models/{name}/infer", **_INFER)
async def infer(name: str, request: Request) -> Response:
    return await _infer(name, None, request)


@router.post("/v2/models/{name}/versions/{version}/infer", **_INFER)
async def version_infer(name: str, version: str, request: Request) -> Response:
    return await _infer(name, version, request)


async def _infer(name: str, version: str | None, request: Request) -> Response:
    plane = dataplane(request)
    plane.check_model(name, version)  # before the body is read: an unknown model is a 404 whatever it holds
    header_length = request.headers.get(v2_binary.HEADER)
    body = await request.body()
    if header_length is None:  # JSON numbers: CPU-bound parsing, off the loop
        parsed, images = await asyncio.to_thread(v2_binary.read_infer, body, None, plane.limits)
    else:  # binary data is sliced, never parsed
        parsed, images = v2_binary.read_infer(body, header_length, plane.limits)
    outputs = await plane.infer(images)
    content, headers = v2_binary.encode_infer(name, parsed, outputs)
    return Response(content, headers=headers)
