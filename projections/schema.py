"""JSON schemas of Structs for documents built with pydantic (FastStream's AsyncAPI)."""

from __future__ import annotations

from typing import Any

import msgspec


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with every ``$ref`` into ``defs`` replaced by what it names."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def json_schema(kind: Any) -> dict[str, Any]:
    """A type's JSON schema, self-contained (no ``$defs``)."""
    full = msgspec.json.schema(kind)
    return dict(_inline(full, full.pop("$defs", {})))


class Schema:
    """A Struct's JSON schema (msgspec's) offered to pydantic too: FastStream builds its
    AsyncAPI document with pydantic."""

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.any_schema()

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return json_schema(cls)
