"""The web page (web/index.html and its assets) and /metrics: for people and Prometheus, so
neither is in the OpenAPI document."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ..config import ServerConfig
from ..dataplane import DataPlane
from ..metrics import CONTENT_TYPE_LATEST

WEB_DIR = Path(__file__).parent.parent / "web"
_PLACEHOLDER = (
    "<!doctype html><title>{{MODEL_NAME}}</title><h1>{{MODEL_NAME}}</h1>"
    "<p>POST an image to <code>/v1/models/{{MODEL_NAME}}:detect</code>. "
    "API: <a href='/openapi.json'>/openapi.json</a></p>"
)


def render_page(template: str, config: ServerConfig) -> str:
    """Fill the page's placeholders; the model name is the user's text, so it is escaped."""
    return (template.replace("{{MODEL_NAME}}", html.escape(config.model_name))
            .replace("{{SCORE_THRESHOLD}}", f"{config.score_threshold:g}"))


def add_pages(app: FastAPI, plane: DataPlane) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        page = WEB_DIR / "index.html"
        text = page.read_text(encoding="utf-8") if page.is_file() else _PLACEHOLDER
        return HTMLResponse(render_page(text, plane.config))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(plane.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.mount("/static", StaticFiles(directory=WEB_DIR, check_dir=False), name="static")
