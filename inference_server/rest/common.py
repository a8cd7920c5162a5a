"""What the REST modules share: the dataplane and readiness of the app serving a request, and the
OpenAPI description of a JSON body the handler parses itself."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel

from ..dataplane import DataPlane
from ..readiness import Readiness


def dataplane(request: Request) -> DataPlane:
    plane: DataPlane = request.app.state.dataplane  # set by create_app
    return plane


def readiness(request: Request) -> Readiness:
    answer: Readiness = request.app.state.readiness  # set by create_app, flipped by its lifecycle
    return answer


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a JSON body the handler parses itself (protocol/jsonbody.py says why), with the
    model's $defs inlined: they would not resolve inside the OpenAPI document."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        return [inline(value) for value in node] if isinstance(node, list) else node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}
