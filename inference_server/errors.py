"""Typed request errors and the one table that maps them to HTTP and gRPC status codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ServerError(Exception):
    """Base class: the message is shown to the client ({"error": message} over HTTP, the status
    details over gRPC)."""


class BadInput(ServerError):
    """Undecodable image, wrong tensor shape or datatype, malformed request."""


class UnknownModel(ServerError):
    def __init__(self, name: str, version: str | None = None) -> None:
        if version is None:
            super().__init__(f"model {name!r} not found; this server serves one model, see GET /v2")
        else:
            super().__init__(f"model {name!r} has no version {version!r}; it has version 1 only")


class BodyTooLarge(ServerError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes (--max-body-bytes)")


class TooLarge(ServerError):
    """More images or pixels than a limit allows (limits.py): it will never succeed, so gRPC gets
    INVALID_ARGUMENT, which clients do not retry (RESOURCE_EXHAUSTED they may)."""


class Overloaded(ServerError):
    """The server's pixels in flight stayed taken too long (limits.PixelBudget): retry later."""


class DeadlineExceeded(ServerError):
    """A gRPC call without a deadline of its own ran past the server's default (--grpc-deadline-seconds)."""


class UnsupportedMediaType(ServerError):
    pass


class NotReady(ServerError):
    pass


# error -> (HTTP status, gRPC status code name); names keep this module free of grpc.
CODES: dict[type[ServerError], tuple[int, str]] = {
    BadInput: (400, "INVALID_ARGUMENT"),
    UnknownModel: (404, "NOT_FOUND"),
    BodyTooLarge: (413, "RESOURCE_EXHAUSTED"),
    TooLarge: (413, "INVALID_ARGUMENT"),
    Overloaded: (429, "RESOURCE_EXHAUSTED"),
    DeadlineExceeded: (504, "DEADLINE_EXCEEDED"),
    UnsupportedMediaType: (415, "INVALID_ARGUMENT"),
    NotReady: (503, "UNAVAILABLE"),
}
_UNEXPECTED = (500, "INTERNAL")


def _codes(error: BaseException) -> tuple[int, str]:
    for kind in type(error).__mro__:
        if kind in CODES:
            return CODES[kind]
    return _UNEXPECTED


def status_code(error: BaseException) -> int:
    """The HTTP status for an error; 500 for anything that is not a ServerError (a bug)."""
    return _codes(error)[0]


def grpc_code(error: BaseException) -> str:
    """The gRPC status code name (grpc.StatusCode[name]); INTERNAL for a bug, never UNKNOWN."""
    return _codes(error)[1]


def describe_validation(errors: Sequence[Any]) -> str:
    """Pydantic/FastAPI validation errors -> one line: `where: what` for the first five."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5]
    )


def error_body(message: str) -> dict[str, str]:
    return {"error": message}


class GrpcBindError(RuntimeError):
    """The gRPC port cannot be had: a start-up failure, never a request's."""
