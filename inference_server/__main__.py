"""`python -m inference_server --model-uri URI ...`: serve one detection model over HTTP."""

from __future__ import annotations

import logging
import sys

import uvicorn

from .app import create_app
from .config import parse_args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    # On SIGTERM uvicorn stops accepting, lets in-flight requests finish, then runs the lifespan
    # shutdown, which drains the micro-batcher.
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", access_log=False)
    return 1 if app.state.server.error else 0


if __name__ == "__main__":
    sys.exit(main())
