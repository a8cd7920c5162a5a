"""`create_app(config, detector)`: the FastAPI application. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
import html
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from . import __version__
from .batching import MicroBatcher
from .config import ServerConfig
from .errors import GrpcBindError, ServerError, describe_validation, error_body, status_code
from .loading import load_model
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .middleware import BodyLimit, CloseConnectionsWhenShuttingDown, RequestMetrics, SecurityHeaders
from .model import Detector
from .routes import router
from .state import ServerState
from .termination import write_termination_log

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"
_PLACEHOLDER = (
    "<!doctype html><title>{{MODEL_NAME}}</title><h1>{{MODEL_NAME}}</h1>"
    "<p>POST an image to <code>/v1/models/{{MODEL_NAME}}:detect</code>. "
    "API: <a href='/openapi.json'>/openapi.json</a></p>"
)


def create_app(config: ServerConfig, detector: Detector | None = None) -> FastAPI:
    """A detector that is already loaded is used as is; otherwise the model loads in the background
    after start-up, so liveness answers while a large model downloads."""
    state = ServerState(config=config, detector=detector or Detector(), metrics=Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.batcher = MicroBatcher(
            state.detector.predict, config.max_batch_size, config.batch_timeout_ms, state.metrics.observe_batch
        )
        if config.grpc_port:
            await _start_grpc(state)
        loader = asyncio.create_task(load_model(state))
        try:
            yield
        finally:
            # uvicorn has finished the in-flight requests, and gRPC its calls; the batches they
            # queued are drained too.
            if not loader.done():
                loader.cancel()
            if state.grpc is not None:
                await state.grpc.begin_stop()
            await state.batcher.close()

    # No /docs or /redoc: FastAPI loads Swagger UI and ReDoc from a public CDN (no integrity, and
    # offline they break). The OpenAPI document stays at /openapi.json for any viewer or tool.
    app = FastAPI(title="detector-server", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = state
    app.include_router(router)
    _add_error_handlers(app)
    _add_pages(app, state)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(CloseConnectionsWhenShuttingDown, shutting_down=lambda: state.shutting_down)
    app.add_middleware(RequestMetrics, metrics=state.metrics)  # counts 413s too
    app.add_middleware(SecurityHeaders)  # outermost: every response has them, errors included
    return app


async def _start_grpc(state: ServerState) -> None:
    """Fails the start-up, loudly, when the port cannot be had."""
    # Importing TF Serving's messages imports TensorFlow (seconds): off the loop, so HTTP starts.
    module = await asyncio.to_thread(importlib.import_module, "inference_server.grpc_server")
    state.grpc = module.GrpcServer(state)
    try:
        await state.grpc.start()
    except GrpcBindError as exc:
        state.error = str(exc)
        log.error("%s", exc)
        write_termination_log(str(exc))
        raise


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServerError)
    async def server_error(request: Request, exc: ServerError) -> JSONResponse:
        return JSONResponse(error_body(str(exc)), status_code=status_code(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(f"invalid request: {describe_validation(exc.errors())}"), status_code=400)

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        # The client went away, or sent its body too slowly and got its 408 from http_protocol.py:
        # nobody reads this answer; the metrics count it as the 408 it most often is.
        return Response(status_code=408)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


def render_page(template: str, config: ServerConfig) -> str:
    """Fill the page's placeholders; the model name is the user's text, so it is escaped."""
    return (template.replace("{{MODEL_NAME}}", html.escape(config.model_name))
            .replace("{{SCORE_THRESHOLD}}", f"{config.score_threshold:g}"))


def _add_pages(app: FastAPI, state: ServerState) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        page = WEB_DIR / "index.html"
        text = page.read_text(encoding="utf-8") if page.is_file() else _PLACEHOLDER
        return HTMLResponse(render_page(text, state.config))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.mount("/static", StaticFiles(directory=WEB_DIR, check_dir=False), name="static")
