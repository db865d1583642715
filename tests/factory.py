"""Small builders for hand-written event fixtures."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)


def show(show_id: str, date: str, band: str = "band", **fields: Any) -> dict[str, Any]:
    return {
        "type": "ShowRecorded",
        "event_id": f"e{next(_ids)}",
        "band": band,
        "show_id": show_id,
        "date": date,
        **fields,
    }


def perf(show_id: str, position: int, song: str, band: str = "band", set: str = "1", **fields: Any) -> dict[str, Any]:
    return {
        "type": "PerformanceAdded",
        "event_id": f"e{next(_ids)}",
        "band": band,
        "show_id": show_id,
        "position": position,
        "set": set,
        "song_id": song,
        "song_title": fields.pop("title", song.title()),
        **fields,
    }


def perf_removed(show_id: str, position: int, band: str = "band") -> dict[str, Any]:
    return {
        "type": "PerformanceRemoved",
        "event_id": f"e{next(_ids)}",
        "band": band,
        "show_id": show_id,
        "position": position,
    }


def show_removed(show_id: str, band: str = "band") -> dict[str, Any]:
    return {"type": "ShowRemoved", "event_id": f"e{next(_ids)}", "band": band, "show_id": show_id}
