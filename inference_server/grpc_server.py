"""The gRPC front end: grpcio's asyncio server on its own port, in the HTTP server's process and
event loop, sharing its model, batcher and metrics (the DataPlane). The lifecycle (app.py) starts
and stops it, and tells it when readiness changes.

Serves the Open Inference Protocol, TF Serving's PredictionService and ModelService, and the
standard grpc.health.v1 service: NOT_SERVING while the model loads, SERVING once it is ready
(the same readiness as GET /v2/health/ready), NOT_SERVING again from the start of a shutdown
(SIGTERM), while calls are still served through the drain delay.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import grpc_services
from .dataplane import DataPlane
from .errors import GrpcBindError
from .readiness import Readiness

log = logging.getLogger(__name__)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcServer:
    def __init__(self, plane: DataPlane, readiness: Readiness) -> None:
        self.readiness = readiness
        self.config = config = plane.config
        self.address = address(config.host, config.grpc_port)
        # At most --max-connections calls at once: beyond that grpc answers RESOURCE_EXHAUSTED unread.
        self.server = grpc.aio.server(maximum_concurrent_rpcs=config.max_connections, options=[
            # The same limit as HTTP bodies: a bigger message is RESOURCE_EXHAUSTED, unread.
            ("grpc.max_receive_message_length", config.max_body_bytes),
            ("grpc.max_send_message_length", -1),
            # grpc's default SO_REUSEPORT would share a port with another server silently.
            ("grpc.so_reuseport", 0),
            # config.py says why; grpc adds +-10% jitter to the age.
            ("grpc.max_connection_age_ms", int(config.grpc_max_connection_age_seconds * 1000)),
            ("grpc.max_connection_age_grace_ms", int(config.grpc_deadline_seconds * 1000)),
        ])
        self.health = health.aio.HealthServicer()
        self.services = ["", *grpc_services.add_services(self.server, plane, readiness)]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._pending: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            bound = self.server.add_insecure_port(self.address)
        except RuntimeError as exc:
            bound, detail = 0, str(exc)
        else:
            detail = "no port was bound"
        if not bound:
            raise GrpcBindError(f"cannot listen for gRPC on {self.address} (is the port taken? --grpc-port / "
                                f"DETECTOR_GRPC_PORT, 0 turns gRPC off): {detail}")
        await self._set_health(self.readiness.accepting)
        await self.server.start()
        log.info("gRPC listening on %s: %s", self.address, ", ".join(s for s in self.services if s))

    def readiness_changed(self) -> None:
        """grpc.health.v1 follows readiness: the lifecycle calls this when the model's load ends
        and when a shutdown begins."""
        task = asyncio.get_running_loop().create_task(self._set_health(self.readiness.accepting))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _set_health(self, ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in self.services:
            await self.health.set(service, status)

    def begin_stop(self) -> asyncio.Task[None]:
        """Stop taking calls now and let those in flight finish; every caller awaits the same stop."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        return self._stopping

    async def _stop(self) -> None:
        await self.health.enter_graceful_shutdown()
        # Calls in flight get the drain time; new ones are refused (GOAWAY: clients reconnect elsewhere).
        await self.server.stop(self.config.drain_seconds)
        log.info("gRPC stopped")
