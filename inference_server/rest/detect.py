"""POST /v1/models/{name}:detect: an image in (JPEG or PNG, raw or a multipart upload), the
objects found out as JSON boxes, or drawn onto the image with Accept: image/png."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..errors import BadInput, UnsupportedMediaType
from ..protocol import detect
from .common import dataplane

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


@router.post(
    "/v1/models/{name}:detect", tags=["detect"], openapi_extra=_DETECT_BODY,
    responses={200: {"model": detect.DetectResponse}},
)
async def detect_objects(
    name: str, request: Request, threshold: Annotated[float | None, Query(ge=0.0, le=1.0)] = None
) -> Response:
    plane = dataplane(request)
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
