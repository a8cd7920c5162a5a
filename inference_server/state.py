"""What the request handlers share: settings, the model, its batcher, labels and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .batching import MicroBatcher
from .config import ServerConfig
from .errors import NotReady, UnknownModel
from .metrics import Metrics
from .model import Detector


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

    @property
    def ready(self) -> bool:
        return self.detector.ready and self.batcher is not None and self.error is None

    def check_model(self, name: str) -> None:
        if name != self.config.model_name:
            raise UnknownModel(name)

    def check_ready(self) -> None:
        if self.error:
            raise NotReady(f"model {self.config.model_name!r} failed to load: {self.error}")
        if not self.ready:
            raise NotReady(f"model {self.config.model_name!r} is loading; retry shortly")

    async def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        self.check_ready()
        assert self.batcher is not None
        return await self.batcher.submit(images)
