"""`python -m inference_server --model-uri URI ...`: serve one detection model over HTTP and gRPC."""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from .app import create_app
from .config import parse_args
from .http_protocol import guarded_protocol
from .state import ServerState

KEEP_ALIVE_SECONDS = 75  # nginx's default; above the pool idle time of common HTTP clients


class Server(uvicorn.Server):
    """On SIGTERM gRPC stops taking calls at the same moment HTTP stops accepting; both drain,
    then the lifespan shutdown drains the batcher."""

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.state = state

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.state.grpc is not None:
            self.state.grpc.begin_stop()
        await super().shutdown(sockets)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    app = create_app(config)
    # Keep idle connections longer than clients' pools do (aiohttp 15 s, Go and Envoy longer):
    # with uvicorn's 5 s a client could reuse a connection the server was just closing, and the
    # request failed with "connection reset by peer" (seen under the benchmark's load).
    # Slow clients: headers and bodies have deadlines of their own (http_protocol.py), and at most
    # --max-connections connections are open before uvicorn answers 503.
    server = Server(uvicorn.Config(
        app, host=config.host, port=config.port, access_log=False, timeout_keep_alive=KEEP_ALIVE_SECONDS,
        http=guarded_protocol(config.header_timeout_seconds, config.body_timeout_seconds),
        limit_concurrency=config.max_connections,
    ), app.state.server)
    # A model that cannot load ends the process through uvicorn's own orderly shutdown.
    app.state.server.on_fatal = lambda: setattr(server, "should_exit", True)
    # On SIGTERM uvicorn stops accepting, lets in-flight requests finish, then runs the lifespan
    # shutdown, which drains the micro-batcher; it then re-raises SIGTERM, so the exit status is 143.
    server.run()
    return 1 if app.state.server.error else 0


if __name__ == "__main__":
    sys.exit(main())
