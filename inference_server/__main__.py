"""`python -m inference_server --model-uri URI ...`: serve one detection model over HTTP and gRPC."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import socket
import sys
import time
from types import FrameType

import uvicorn

from .app import Lifecycle, create_app
from .config import parse_args
from .http_protocol import guarded_protocol
from .termination import write_termination_log

KEEP_ALIVE_SECONDS = 75  # nginx's default; above the pool idle time of common HTTP clients
log = logging.getLogger("inference_server")


class Server(uvicorn.Server):
    """The ending on SIGTERM (or Ctrl-C), in three steps:

    1. at once: readiness (GET /v2/health/ready, gRPC ServerReady and grpc.health.v1) turns
       false, while the listeners stay open and every request is still served, each HTTP response
       saying `Connection: close` so pooled clients reconnect (to another pod) for the next one;
    2. after `drain_delay_seconds` (endpoint removal has reached kube-proxy and the load balancers
       by then): HTTP stops accepting and gRPC refuses new calls at the same moment, and both let
       those in flight finish, up to `drain_seconds`;
    3. the lifespan shutdown drains the micro-batcher; uvicorn re-raises the signal (exit 143).

    A second signal during the delay skips the rest of it. A server whose model never became
    ready skips it too: no load balancer was sending it anything. Nor does it wait for the load
    (a thread that cannot be interrupted, minutes for a big model): it says why it ended, in its
    termination message, and exits at once.
    """

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.began = time.monotonic()  # not `started`: uvicorn.Server has that flag
        self._loop: asyncio.AbstractEventLoop | None = None
        self._delay_requested = False
        self._delay: asyncio.TimerHandle | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        delay = self.lifecycle.config.drain_delay_seconds
        if self._loop is None or self.should_exit or self._delay_requested or not delay:
            if self._delay is not None:
                self._delay.cancel()
            super().handle_exit(sig, frame)
            return
        self._delay_requested = True
        self._captured_signals.append(sig)  # re-raised after the orderly shutdown, as uvicorn does
        # A signal handler runs between two bytecodes of whatever the loop was doing: leave the
        # work to the loop.
        self._loop.call_soon_threadsafe(self._begin_drain_delay, delay)

    def _begin_drain_delay(self, delay: float) -> None:
        if not self.lifecycle.model_ready or self.should_exit:
            self.should_exit = True
            return
        log.info("shutting down in %.1fs: reporting not ready, still serving meanwhile", delay)
        self.lifecycle.begin_shutdown()
        assert self._loop is not None
        self._delay = self._loop.call_later(delay, setattr, self, "should_exit", True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.lifecycle.begin_stop()  # gRPC stops taking calls as uvicorn stops accepting, below
        await super().shutdown(sockets)
        if self._captured_signals and not self.lifecycle.model_ready and not self.lifecycle.failed:
            self._exit_while_loading(self._captured_signals[-1])

    def _exit_while_loading(self, sig: int) -> None:
        """The kubelet restarts a server its startup probe gave up on with SIGTERM: the pod's
        status (and so the ObjectDetector's) then says what happened, in the server's words."""
        message = (f"stopped by {signal.Signals(sig).name} {time.monotonic() - self.began:.0f} s after the start, "
                   "while the model was still loading: if the kubelet's startup probe gave up, the model needs "
                   "longer than spec.server.startupTimeoutSeconds")
        log.error("%s", message)
        write_termination_log(message)
        logging.shutdown()
        os._exit(128 + sig)  # not sys.exit: that would join the loading thread first


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    app = create_app(config)
    lifecycle: Lifecycle = app.state.lifecycle
    # Keep idle connections longer than clients' pools do (aiohttp 15 s, Go and Envoy longer):
    # with uvicorn's 5 s a client could reuse a connection the server was just closing, and the
    # request failed with "connection reset by peer" (seen under the benchmark's load).
    # Slow clients: headers and bodies have deadlines of their own (http_protocol.py), and at most
    # --max-connections connections are open before uvicorn answers 503.
    server = Server(uvicorn.Config(
        app, host=config.host, port=config.port, access_log=False, timeout_keep_alive=KEEP_ALIVE_SECONDS,
        http=guarded_protocol(config.header_timeout_seconds, config.body_timeout_seconds),
        limit_concurrency=config.max_connections,
        timeout_graceful_shutdown=math.ceil(config.drain_seconds),  # the same bound gRPC's calls get
    ), lifecycle)
    # A model that cannot load ends the process through uvicorn's own orderly shutdown.
    lifecycle.on_fatal = lambda: setattr(server, "should_exit", True)
    # SIGTERM: see Server. The exit status is then 143, as supervisors expect: uvicorn raises the
    # signal again once it is done, which ends the process, except as a container's PID 1 (the
    # kernel drops a signal PID 1 has no handler for), where the kubelet saw exit 0, "Completed".
    server.run()
    if server._captured_signals:
        return 128 + server._captured_signals[-1]
    return 1 if lifecycle.failed else 0


if __name__ == "__main__":
    sys.exit(main())
