"""The one dataplane every protocol front end shares: settings, the model, its batcher, the limits,
labels and metrics.

REST (JSON and binary), gRPC (Open Inference Protocol and TF Serving) and :detect check the model
a request names (`check_model`, once, before decoding, so an unknown model is a 404 whatever the
body), decode into an image batch, call `infer()` (the one MicroBatcher) and encode what it
returns. Nothing here knows of servers, ports or shutdown: app.py's Lifecycle owns those.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import numpy as np

from .batching import MicroBatcher
from .config import ServerConfig
from .errors import NotReady, UnknownModel
from .limits import Limits, PixelBudget, pixels
from .metrics import Metrics
from .model import Detector
from .signature import MODEL_VERSION


@dataclass
class DataPlane:
    config: ServerConfig
    detector: Detector
    metrics: Metrics
    labels: dict[int, str] = field(default_factory=dict)
    batcher: MicroBatcher | None = None  # set for the app's lifespan (app.py)
    error: str | None = None  # why loading failed, shown by readiness and model status
    budget: PixelBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = PixelBudget(self.limits.max_pixels_in_flight, self.limits.admission_timeout_ms,
                                  self.metrics.pixels_in_flight.set)

    @property
    def limits(self) -> Limits:
        return self.config.limits

    @property
    def ready(self) -> bool:
        """The model is loaded and answers (what inference and model status go by). Once true it
        stays true: a model that loaded never fails to load later."""
        return self.detector.ready and self.batcher is not None and self.error is None

    def check_model(self, name: str, version: str | None = None) -> None:
        """The request's model is this one. version: None or "" for the latest, the only one."""
        if name != self.config.model_name:
            raise UnknownModel(name)
        if version not in (None, "", MODEL_VERSION):
            raise UnknownModel(name, version)

    def check_ready(self) -> None:
        if self.error:
            raise NotReady(f"model {self.config.model_name!r} failed to load: {self.error}")
        if not self.ready:
            raise NotReady(f"model {self.config.model_name!r} is loading; retry shortly")

    async def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The model path every protocol calls, after its `check_model`: this model's outputs for a
        checked uint8 batch (the codecs checked it against the limits by its shape), within the
        pixel budget."""
        self.check_ready()  # a request for a model still loading is not worth a place in the budget
        async with self.admit(pixels(images.shape)):
            return await self.run(images)

    @asynccontextmanager
    async def admit(self, amount: int) -> AsyncIterator[None]:
        """Room for `amount` pixels while a request decodes and runs (:detect decodes inside it)."""
        async with self.budget.hold(amount):
            yield

    async def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The batch through the MicroBatcher, for a caller that has checked readiness (`infer`;
        :detect checks before it reads the image)."""
        assert self.batcher is not None, "check_ready() first"
        return await self.batcher.submit(images)
