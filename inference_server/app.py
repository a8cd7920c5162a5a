"""`create_app(config, detector)`: the FastAPI application, and its lifespan: the server's life in
one place. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from . import __version__
from .batching import MicroBatcher
from .config import ServerConfig
from .dataplane import DataPlane
from .errors import GrpcBindError
from .loading import load_model
from .metrics import Metrics
from .middleware import BodyLimit, CloseConnectionsWhenShuttingDown, RequestMetrics, SecurityHeaders
from .model import Detector
from .readiness import Readiness
from .rest import detect, health, v1, v2
from .rest.errors import add_error_handlers
from .rest.pages import add_pages
from .termination import write_termination_log

if TYPE_CHECKING:  # grpc and TF Serving's messages load only when gRPC is on
    from .grpc_server import GrpcServer

log = logging.getLogger(__name__)


class Lifecycle:
    """Everything about the server that is not a request: the batcher and the gRPC server for the
    app's lifespan, the model loading in the background, readiness as the load and a shutdown
    change it (gRPC health is told), and what a failed load ends. __main__ drives the shutdown
    (SIGTERM) through `begin_shutdown` and `begin_stop`; the dataplane knows none of this."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self.config = plane.config
        self.readiness = Readiness(plane)
        self.grpc: GrpcServer | None = None
        self.error: str | None = None  # why the start-up failed (the gRPC port could not be had)
        # Set by __main__: a failed load then ends the process (the pod restarts and shows the
        # reason); an app built in-process (tests) stays up and answers 503 with the reason.
        self.on_fatal: Callable[[], None] | None = None

    @property
    def model_ready(self) -> bool:
        """The model has loaded: traffic may have been routed here since."""
        return self.plane.ready

    @property
    def failed(self) -> bool:
        """The process should exit unsuccessfully: the model or the gRPC port could not be had."""
        return self.error is not None or self.plane.error is not None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        plane, config = self.plane, self.config
        plane.batcher = MicroBatcher(
            plane.detector.predict, config.max_batch_size, config.batch_timeout_ms, plane.metrics.observe_batch
        )
        if config.grpc_port:
            await self._start_grpc()
        loader = asyncio.create_task(self._load())
        try:
            yield
        finally:
            # uvicorn has finished the in-flight requests, and gRPC its calls; the batches they
            # queued are drained too.
            if not loader.done():
                loader.cancel()
            if self.grpc is not None:
                await self.grpc.begin_stop()
            await plane.batcher.close()

    async def _start_grpc(self) -> None:
        """Fails the start-up, loudly, when the port cannot be had."""
        # Importing TF Serving's messages imports TensorFlow (seconds): off the loop, so HTTP starts.
        module = await asyncio.to_thread(importlib.import_module, "inference_server.grpc_server")
        server: GrpcServer = module.GrpcServer(self.plane, self.readiness)
        try:
            await server.start()
        except GrpcBindError as exc:
            self.error = str(exc)
            log.error("%s", exc)
            write_termination_log(str(exc))
            raise
        self.grpc = server

    async def _load(self) -> None:
        loaded = await load_model(self.plane)
        self._readiness_changed()
        if not loaded and self.on_fatal is not None:
            write_termination_log(f"model load failed: {self.plane.error}")
            self.on_fatal()

    def begin_shutdown(self) -> None:
        """Readiness turns false (HTTP and gRPC health); every request is still served."""
        if not self.readiness.shutting_down:
            self.readiness.shutting_down = True
            self._readiness_changed()

    def begin_stop(self) -> None:
        """gRPC refuses new calls and lets those in flight finish (uvicorn does the same for HTTP);
        the lifespan's end awaits the same stop."""
        self.begin_shutdown()
        if self.grpc is not None:
            self.grpc.begin_stop()

    def _readiness_changed(self) -> None:
        if self.grpc is not None:
            self.grpc.readiness_changed()


def create_app(config: ServerConfig, detector: Detector | None = None) -> FastAPI:
    """A detector that is already loaded is used as is; otherwise the model loads in the background
    after start-up, so liveness answers while a large model downloads. The app's state holds the
    dataplane (for the REST modules), its readiness and its Lifecycle (for __main__)."""
    plane = DataPlane(config=config, detector=detector or Detector(), metrics=Metrics())
    lifecycle = Lifecycle(plane)
    # No /docs or /redoc: FastAPI loads Swagger UI and ReDoc from a public CDN (no integrity, and
    # offline they break). The OpenAPI document stays at /openapi.json for any viewer or tool.
    app = FastAPI(title="detector-server", version=__version__, lifespan=lifecycle.lifespan,
                  docs_url=None, redoc_url=None)
    app.state.dataplane, app.state.readiness, app.state.lifecycle = plane, lifecycle.readiness, lifecycle
    for module in (health, v2, v1, detect):
        app.include_router(module.router)
    add_error_handlers(app)
    add_pages(app, plane)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(CloseConnectionsWhenShuttingDown, shutting_down=lambda: lifecycle.readiness.shutting_down)
    app.add_middleware(RequestMetrics, metrics=plane.metrics)  # counts 413s too
    app.add_middleware(SecurityHeaders)  # outermost: every response has them, errors included
    return app
