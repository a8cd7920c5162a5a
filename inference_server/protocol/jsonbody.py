"""Raw JSON bodies -> request models. Pydantic checks the small fields; the big pixel lists skip
it (walking ~1M numbers costs a third of a :predict) and numpy checks them in tensors.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import BadInput, describe_validation
from . import numeric_json

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def load_object(body: bytes, *, fast: bool = False) -> dict[str, Any]:
    """fast: big integer arrays may come back as ndarrays (numeric_json.py) instead of lists."""
    data = numeric_json.load(body) if fast else None
    if data is None:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise BadInput(f"invalid request: the body is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BadInput(f"invalid request: the body must be a JSON object, not {type(data).__name__}")
    return data


def fast_or_exact(decode: Callable[[bytes, bool], T], body: bytes) -> T:
    """decode(body, fast) on the fast path; a bad request is decoded again exactly, so every error
    message is the exact path's (an ndarray in place of a list would word some of them differently)."""
    try:
        return decode(body, True)
    except BadInput:
        return decode(body, False)


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadInput(f"invalid request: {describe_validation(exc.errors())}") from exc
