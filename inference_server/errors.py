"""Typed request errors and the one table that maps them to HTTP status codes."""

from __future__ import annotations

from typing import Any


class ServerError(Exception):
    """Base class: the message is shown to the client as {"error": message}."""


class BadInput(ServerError):
    """Undecodable image, wrong tensor shape or datatype, malformed request."""


class UnknownModel(ServerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} not found; this server serves one model, see GET /v2")


class BodyTooLarge(ServerError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes (--max-body-bytes)")


class UnsupportedMediaType(ServerError):
    pass


class NotReady(ServerError):
    pass


STATUS_CODES: dict[type[ServerError], int] = {
    BadInput: 400,
    UnknownModel: 404,
    BodyTooLarge: 413,
    UnsupportedMediaType: 415,
    NotReady: 503,
}


def status_code(error: ServerError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]
    return 500


def describe_validation(errors: list[Any]) -> str:
    """Pydantic/FastAPI validation errors -> one line: `where: what` for the first five."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5]
    )


def error_body(message: str) -> dict[str, str]:
    return {"error": message}
