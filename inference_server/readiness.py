"""Whether the server wants new traffic: the one answer of the readiness probe (GET
/v2/health/ready), gRPC's ServerReady and grpc.health.v1.

The lifecycle (app.py) owns it and begins the shutdown; the protocol front ends only read it, so
they need not know the lifecycle (nor the gRPC server, which reads it too).
"""

from __future__ import annotations

from dataclasses import dataclass

from .dataplane import DataPlane
from .errors import NotReady


@dataclass
class Readiness:
    plane: DataPlane
    # Set at SIGTERM: readiness turns false so no new traffic is routed here, while the model keeps
    # answering what still arrives until the listeners close.
    shutting_down: bool = False

    @property
    def accepting(self) -> bool:
        """The model is ready and no shutdown has begun."""
        return self.plane.ready and not self.shutting_down

    def check_accepting(self) -> None:
        """The readiness probe's answer: 503 from the start of a shutdown, though requests are
        still served until the listeners close."""
        if self.shutting_down:
            raise NotReady("the server is shutting down: requests in flight finish, new ones go elsewhere")
        self.plane.check_ready()
