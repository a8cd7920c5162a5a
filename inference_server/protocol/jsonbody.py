"""Raw JSON bodies -> request models. Pydantic checks the small fields; the big pixel lists skip
it (walking ~1M numbers costs a third of a :predict) and numpy checks them in tensors.py."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import BadInput, describe_validation

M = TypeVar("M", bound=BaseModel)


def load_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadInput(f"invalid request: the body is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BadInput(f"invalid request: the body must be a JSON object, not {type(data).__name__}")
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadInput(f"invalid request: {describe_validation(exc.errors())}") from exc
