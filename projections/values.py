"""Values as redis-py returns them (bytes, str or None, typed loosely), made definite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast


def text(value: Any) -> str:
    """A reply value as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def number(value: Any, default: int = 0) -> int:
    """A reply value as an integer (``default`` for None)."""
    return default if value is None else int(value)


def stream_entries(reply: Any) -> list[tuple[str, Mapping[bytes, bytes]]]:
    """XRANGE / XAUTOCLAIM entries as ``(id, fields)``, deleted entries (no fields) left out."""
    return [(text(entry_id), cast(Mapping[bytes, bytes], fields)) for entry_id, fields in reply if fields is not None]
