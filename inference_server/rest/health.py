"""The Open Inference Protocol's health endpoints: liveness, and the readiness probe's answer."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .common import readiness

router = APIRouter()


@router.get("/v2/health/live", tags=["v2"])
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", tags=["v2"])
async def ready(request: Request) -> dict[str, bool]:
    readiness(request).check_accepting()
    return {"ready": True}
