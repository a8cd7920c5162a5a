"""TF Serving's REST API (v1): model status, and :predict in row ("instances") or columnar
("inputs") form."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from ..protocol import v1
from .common import dataplane, json_body

router = APIRouter()


@router.get("/v1/models/{name}", tags=["v1"])
async def model_status(name: str, request: Request) -> v1.ModelStatus:
    plane = dataplane(request)
    plane.check_model(name)
    return v1.model_status(plane.ready, plane.error)


@router.post("/v1/models/{name}:predict", tags=["v1"], openapi_extra=json_body(v1.PredictRequest))
async def predict(name: str, request: Request) -> dict[str, Any]:
    plane = dataplane(request)
    plane.check_model(name)
    images, form = await asyncio.to_thread(v1.read_predict, await request.body(), plane.limits)
    outputs = await plane.infer(images)
    return await asyncio.to_thread(v1.encode_predict, outputs, form)
