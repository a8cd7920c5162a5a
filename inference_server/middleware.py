"""ASGI middleware: the body-size limit (checked before the body is read), request metrics, security
headers, and `Connection: close` while the server shuts down."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BodyTooLarge, error_body
from .metrics import Metrics


async def _send_error(send: Send, code: int, message: str) -> None:
    body = json.dumps(error_body(message)).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 from the Content-Length header alone when it is too big; a chunked body is counted as it
    arrives and buffered (at most the limit) so the app never sees a body over the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _send_error(send, 400, "invalid Content-Length header")
                return
            if int(length) > self.max_bytes:
                await _send_error(send, 413, str(BodyTooLarge(self.max_bytes)))
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await _send_error(send, 413, str(BodyTooLarge(self.max_bytes)))
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# Label values come from these sets only, whatever a client sends: 3000 invented methods once made
# 6000 series on /metrics. Routes are the app's own templates; anything else is "unmatched".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


class RequestMetrics:
    """Counts every request by route template (not raw path), method and status code: every label
    has a bounded set of values."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message: Message) -> None:
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
            self.metrics.observe_request(endpoint, method_label(scope["method"]), status["code"],
                                         time.perf_counter() - started)


# The page loads only its own script, style and images (the picture it shows is a blob: URL, the
# favicon a data: URL) and talks only to this server; nothing may frame it or read the referrer.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors' older twin, for browsers without CSP 2
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """The headers above on every HTTP response: the page, its assets, the API and every error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


class CloseConnectionsWhenShuttingDown:
    """From the start of a shutdown every response says `Connection: close`: a client's pooled
    keep-alive connection was routed here before the endpoint was removed and would keep coming
    back to this pod, to meet a closed socket later; closed after its answer, the client's next
    request opens a new connection, which the Service routes to another pod."""

    def __init__(self, app: ASGIApp, shutting_down: Callable[[], bool]) -> None:
        self.app, self.shutting_down = app, shutting_down

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and self.shutting_down():
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing_send)
