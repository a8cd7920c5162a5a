"""Why a model or a label map could not be fetched, in words a user can act on. One tree, raised
by the fetchers (remote.py) and the storage layer (storage.py) alike; every message names the URI
redacted (no user:password@, no query: pre-signed URLs carry their signatures there)."""

from __future__ import annotations

from urllib.parse import urlparse


class StorageError(Exception):
    pass


class ModelNotFound(StorageError):
    pass


class AccessDenied(StorageError):
    pass


class NotAModel(StorageError):
    pass


def redact(uri: str) -> str:
    """Drop user:password@ and the query before a URI goes into a message or a log."""
    parsed = urlparse(uri)
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc += f":{parsed.port}"
    return parsed._replace(netloc=netloc, query="", fragment="").geturl() if parsed.scheme else uri
