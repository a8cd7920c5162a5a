"""Why a model or a label map could not be fetched, in words a user can act on. One tree, raised
by the fetchers (remote.py) and the storage layer (storage.py) alike; every message names the URI
redacted (redaction.redact_uri: no user:password@, no query: pre-signed URLs carry their
signatures there)."""

from __future__ import annotations

from redaction import redact_uri as redact

__all__ = ["AccessDenied", "ModelNotFound", "NotAModel", "StorageError", "TooLarge", "redact"]


class StorageError(Exception):
    pass


class ModelNotFound(StorageError):
    pass


class AccessDenied(StorageError):
    pass


class NotAModel(StorageError):
    pass


class TooLarge(StorageError):
    """More than the download caps allow (download_limits.py): a bomb, or a model too big for its volume."""
