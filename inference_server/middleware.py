"""ASGI middleware: the body-size limit (checked before the body is read) and request metrics."""

from __future__ import annotations

import json
import time
from typing import Any

from .errors import BodyTooLarge, error_body
from .metrics import Metrics

Scope = dict[str, Any]


async def _send_error(send, code: int, message: str) -> None:
    body = json.dumps(error_body(message)).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 from the Content-Length header alone when it is too big; a chunked body is counted as it
    arrives and buffered (at most the limit) so the app never sees a body over the limit."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _send_error(send, 400, "invalid Content-Length header")
            if int(length) > self.max_bytes:
                return await _send_error(send, 413, str(BodyTooLarge(self.max_bytes)))
            return await self.app(scope, receive, send)
        if b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                return await _send_error(send, 413, str(BodyTooLarge(self.max_bytes)))
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestMetrics:
    """Counts every request by route template (not raw path: bounded label values) and status code."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        counted = scope["path"] != "/metrics"  # a scrape should not see itself in flight
        if counted:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            if counted:
                self.metrics.in_flight.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(endpoint, scope["method"], status["code"], time.perf_counter() - started)
