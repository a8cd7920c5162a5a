"""What every protocol front end shares: settings, the model, its batcher, labels and metrics.

The one dataplane: REST (JSON and binary), gRPC (Open Inference Protocol and TF Serving) and
:detect decode their requests into an image batch, call `infer()` (the one MicroBatcher), and
encode what it returns. Readiness is decided here once, for HTTP and gRPC health alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .batching import MicroBatcher
from .config import ServerConfig
from .errors import NotReady, UnknownModel
from .limits import Limits, PixelBudget, pixels
from .metrics import Metrics
from .model import Detector
from .signature import MODEL_VERSION

if TYPE_CHECKING:  # grpc and TF Serving's messages load only when gRPC is on
    from .grpc_server import GrpcServer


@dataclass
class ServerState:
    config: ServerConfig
    detector: Detector
    metrics: Metrics
    labels: dict[int, str] = field(default_factory=dict)
    batcher: MicroBatcher | None = None
    error: str | None = None  # why loading failed, shown by readiness and model status
    # Set by __main__: a failed load then ends the process (the pod restarts and shows the reason);
    # an app built in-process (tests) stays up and answers 503 with the reason.
    on_fatal: Callable[[], None] | None = None
    # Told when the model becomes ready (True) or fails to load (False): gRPC health follows it.
    readiness_listeners: list[Callable[[bool], None]] = field(default_factory=list)
    grpc: GrpcServer | None = None
    # Set at SIGTERM: the server's readiness (HTTP and gRPC health) turns false so no new traffic
    # is routed here, while the model keeps answering what still arrives until the listeners close.
    shutting_down: bool = False
    budget: PixelBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = PixelBudget(self.limits.max_pixels_in_flight, self.limits.admission_timeout_ms,
                                  self.metrics.pixels_in_flight.set)

    @property
    def limits(self) -> Limits:
        return self.config.limits

    @property
    def ready(self) -> bool:
        """The model is loaded and answers (what inference and model status go by)."""
        return self.detector.ready and self.batcher is not None and self.error is None

    @property
    def accepting(self) -> bool:
        """The server wants new traffic: the model is ready and no shutdown has begun (what the
        readiness probe, ServerReady and grpc.health.v1 report)."""
        return self.ready and not self.shutting_down

    def begin_shutdown(self) -> None:
        if not self.shutting_down:
            self.shutting_down = True
            self.readiness_changed()

    def check_model(self, name: str, version: str | None = None) -> None:
        """version: None or "" for the latest, which is the only one."""
        if name != self.config.model_name:
            raise UnknownModel(name)
        if version not in (None, "", MODEL_VERSION):
            raise UnknownModel(name, version)

    def readiness_changed(self) -> None:
        for listener in self.readiness_listeners:
            listener(self.accepting)

    def check_ready(self) -> None:
        if self.error:
            raise NotReady(f"model {self.config.model_name!r} failed to load: {self.error}")
        if not self.ready:
            raise NotReady(f"model {self.config.model_name!r} is loading; retry shortly")

    def check_accepting(self) -> None:
        """The readiness probe's answer: 503 from the start of a shutdown, though requests are
        still served until the listeners close."""
        if self.shutting_down:
            raise NotReady("the server is shutting down: requests in flight finish, new ones go elsewhere")
        self.check_ready()

    async def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        self.check_ready()
        assert self.batcher is not None
        return await self.batcher.submit(images)

    async def infer(self, name: str, images: np.ndarray, version: str | None = None) -> dict[str, np.ndarray]:
        """The model path every protocol calls: this model's outputs for a checked uint8 batch
        (the codecs checked it against the limits by its shape), within the pixel budget."""
        self.check_model(name, version)
        self.check_ready()  # a request for a model still loading is not worth a place in the budget
        async with self.admit(pixels(images.shape)):
            return await self.predict(images)

    @asynccontextmanager
    async def admit(self, amount: int) -> AsyncIterator[None]:
        """Room for `amount` pixels while a request decodes and runs (:detect decodes inside it)."""
        async with self.budget.hold(amount):
            yield
