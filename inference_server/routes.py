"""HTTP endpoints: thin glue between the protocol codecs and the dataplane."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from . import __version__
from .dataplane import DataPlane
from .errors import BadInput, UnsupportedMediaType
from .protocol import detect, v1, v2, v2_binary
from .readiness import Readiness

router = APIRouter()

_IMAGE_BODY = {"schema": {"type": "string", "format": "binary"}}
_DETECT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "image/jpeg": _IMAGE_BODY,
            "image/png": _IMAGE_BODY,
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["image"],
                           "properties": {"image": {"type": "string", "format": "binary"}}}
            },
        },
    },
    "responses": {"200": {"content": {"image/png": {}}, "description": "with Accept: image/png"}},
}


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a JSON body the handler parses itself (protocol/jsonbody.py says why), with the
    model's $defs inlined: they would not resolve inside the OpenAPI document."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        return [inline(value) for value in node] if isinstance(node, list) else node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def _infer_body() -> dict[str, Any]:
    """JSON, or the binary tensor data extension: the JSON header then raw tensor bytes."""
    spec = _json_body(v2.InferRequest)
    spec["requestBody"]["content"][v2_binary.OCTET_STREAM] = {"schema": {"type": "string", "format": "binary"}}
    spec["parameters"] = [{
        "name": "Inference-Header-Content-Length", "in": "header", "required": False,
        "description": "length of the JSON header when binary tensor data follows it",
        "schema": {"type": "integer", "minimum": 0},
    }]
    return spec


def _plane(request: Request) -> DataPlane:
    plane: DataPlane = request.app.state.dataplane
    return plane


def _readiness(request: Request) -> Readiness:
    answer: Readiness = request.app.state.readiness
    return answer


# --- Open Inference Protocol (v2) -------------------------------------------------------------

@router.get("/v2/health/live", tags=["v2"])
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", tags=["v2"])
async def ready(request: Request) -> dict[str, bool]:
    _readiness(request).check_accepting()
    return {"ready": True}


@router.get("/v2", tags=["v2"])
async def server_metadata() -> v2.ServerMetadata:
    return v2.ServerMetadata(name=v2.SERVER_NAME, version=__version__, extensions=v2.EXTENSIONS)


@router.get("/v2/models/{name}", tags=["v2"])
async def model_metadata(name: str, request: Request) -> v2.ModelMetadata:
    _plane(request).check_model(name)
    return v2.model_metadata(name)


@router.get("/v2/models/{name}/versions/{version}", tags=["v2"])
async def version_metadata(name: str, version: str, request: Request) -> v2.ModelMetadata:
    _plane(request).check_model(name, version)
    return v2.model_metadata(name)


@router.get("/v2/models/{name}/ready", tags=["v2"])
async def model_ready(name: str, request: Request) -> v2.ModelReady:
    return _ready(name, None, request)


@router.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
async def version_ready(name: str, version: str, request: Request) -> v2.ModelReady:
    return _ready(name, version, request)


def _ready(name: str, version: str | None, request: Request) -> v2.ModelReady:
    plane = _plane(request)
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
    plane = _plane(request)
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


# --- TF Serving REST (v1) ---------------------------------------------------------------------

@router.get("/v1/models/{name}", tags=["v1"])
async def model_status(name: str, request: Request) -> v1.ModelStatus:
    plane = _plane(request)
    plane.check_model(name)
    return v1.model_status(plane.ready, plane.error)


@router.post("/v1/models/{name}:predict", tags=["v1"], openapi_extra=_json_body(v1.PredictRequest))
async def predict(name: str, request: Request) -> dict[str, Any]:
    plane = _plane(request)
    plane.check_model(name)
    images, form = await asyncio.to_thread(v1.read_predict, await request.body(), plane.limits)
    outputs = await plane.infer(images)
    return await asyncio.to_thread(v1.encode_predict, outputs, form)


@router.post(
    "/v1/models/{name}:detect", tags=["detect"], openapi_extra=_DETECT_BODY,
    responses={200: {"model": detect.DetectResponse}},
)
async def detect_objects(
    name: str, request: Request, threshold: Annotated[float | None, Query(ge=0.0, le=1.0)] = None
) -> Response:
    plane = _plane(request)
    plane.check_model(name)
    plane.check_ready()  # before the upload is read: a model still loading is not worth reading it
    body, media_type = await _read_image_body(request)
    width, height = detect.image_size(body, media_type)  # the header only: nothing decoded yet
    plane.limits.check_image(width, height)
    async with plane.admit(width * height):  # decoding is the big allocation: inside the budget
        image = await asyncio.to_thread(detect.decode_image, body, media_type)
        outputs = await plane.run(image[None])
        cfg = plane.config
        found = detect.to_detections(
            {k: v[0] for k, v in outputs.items()}, width, height, plane.labels,
            cfg.score_threshold if threshold is None else threshold, cfg.max_detections,
        )
        if _wants_png(request.headers.get("accept", "")):
            return Response(await asyncio.to_thread(detect.draw, image, found), media_type="image/png")
    result = {"model": name, "image": {"width": width, "height": height}, "detections": found}
    return Response(json.dumps(result), media_type="application/json")  # shaped as DetectResponse


async def _read_image_body(request: Request) -> tuple[bytes, str]:
    """(the image's bytes, its media type) from a raw body or a multipart upload."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        return await request.body(), media_type
    try:
        form = await request.form()
    except Exception as exc:  # python-multipart raises several types for a malformed body
        raise BadInput(f"malformed multipart body: {exc}") from exc
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        raise BadInput("multipart body needs a file field named 'image'")
    part_type = (upload.content_type or "").split(";")[0].strip().lower()
    data = await upload.read()
    if part_type not in detect.MEDIA_TYPES:
        # Browsers sometimes send application/octet-stream: trust the bytes then.
        if part_type not in ("", "application/octet-stream"):
            raise UnsupportedMediaType(f"unsupported image type {part_type!r}: send image/jpeg or image/png")
        part_type = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return data, part_type


def _wants_png(accept: str) -> bool:
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return "image/png" in types and "application/json" not in types
