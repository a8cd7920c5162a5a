"""uvicorn's HTTP/1.1 protocol (h11) with the two timeouts it lacks: a request's headers, and then
its body, must arrive within a time of their own, or the connection gets 408 and is closed.

uvicorn's own timeout only closes an idle keep-alive connection; a client sending one header
byte a second (slow-loris), or a body that never ends, held its connection, its buffers and a
place under --max-connections for ever. The timers live in the protocol because only it sees
a connection before the ASGI app does (no request exists until the headers are complete) and
one timer per phase, never re-armed by a byte, cannot be kept alive by trickling.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import error_body

_HEADERS, _BODY = "headers", "body"


def guarded_protocol(header_timeout: float, body_timeout: float) -> type[H11Protocol]:
    """The protocol class for uvicorn.Config(http=...), with these timeouts in seconds."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout})


class GuardedH11Protocol(H11Protocol):
    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: str | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter(_HEADERS)  # a new connection owes its first request's headers

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(None)
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Which phase the client is in now: owing headers (some bytes of them came), a body, or
        nothing (an idle keep-alive connection: uvicorn's --timeout-keep-alive covers it)."""
        state = self.conn.their_state
        if state is h11.IDLE:
            self._enter(_HEADERS if self.conn.trailing_data[0] or self._phase == _HEADERS else None)
        elif state is h11.SEND_BODY:
            self._enter(_BODY)
        else:
            self._enter(None)

    def _enter(self, phase: str | None) -> None:
        if phase == self._phase:
            return  # the same phase keeps its first deadline: trickled bytes never extend it
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = phase
        if phase is not None:
            timeout = self.header_timeout if phase == _HEADERS else self.body_timeout
            self._timer = self.loop.call_later(timeout, self._late, phase, timeout)

    def _late(self, phase: str, timeout: float) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        flag = "--header-timeout-seconds" if phase == _HEADERS else "--body-timeout-seconds"
        body = json.dumps(error_body(f"the request's {phase} did not arrive within {timeout:g} s ({flag})")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        if phase == _BODY and self.cycle is not None and not self.cycle.response_started:
            # The app stops waiting (its receive() says the client left) and sends nothing more.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            for event in (h11.Response(status_code=408, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        elif phase == _HEADERS and self.conn.trailing_data[0]:
            # No request exists for h11 to answer: the response is written as it would frame it.
            lines = [b"HTTP/1.1 408 Request Timeout", *(k + b": " + v for k, v in headers), b"", body]
            self.transport.write(b"\r\n".join(lines))
        # A connection that never sent a byte is closed without a word, as nginx does.
        self.transport.close()
