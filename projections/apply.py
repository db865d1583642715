"""What each event changes: the payload the apply script receives for it.

The projection logic itself is ``lua/apply.lua`` (it must run atomically inside Redis);
this module turns validated events and their places in the log into that script's KEYS and
ARGV, one band at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from . import keys
from .events import Event, PerformanceAdded, PerformanceRemoved, ShowRecorded, ShowRemoved

_encode = msgspec.json.Encoder().encode

_SHOW_DETAILS = ("venue", "city", "state", "country", "tour", "slug")


def payload(event: Event, version: str) -> bytes:
    """The apply script's ARGV entry for ``event``, found at stream id ``version``."""
    match event:
        case ShowRecorded():
            body: dict[str, Any] = {
                "t": "S",
                "date": event.date.isoformat(),
                "ord": event.show_order,
                "counts": event.counts_for_stats,
                "d": {k: v for k in _SHOW_DETAILS if (v := getattr(event, k)) is not None},
            }
            if event.band_name is not None:
                body["name"] = event.band_name
        case PerformanceAdded():
            body = {
                "t": "P",
                "pos": event.position,
                "set": event.set,
                "song": keys.stored(event.song_id),
                "title": event.song_title,
                "counts": event.counts_for_stats,
            }
            for name, value in (("slug", event.song_slug), ("tr", event.transition), ("foot", event.footnote)):
                if value is not None:
                    body[name] = value
            if event.is_reprise:
                body["rep"] = True
        case PerformanceRemoved():
            body = {"t": "X", "pos": event.position}
        case ShowRemoved():
            body = {"t": "R"}
    body["v"] = version
    body["id"] = keys.stored(event.show_id)
    return _encode(body)


def script_input(band: str, generation: int, entries: Iterable[tuple[str, Event]]) -> tuple[list[str], list[bytes]]:
    """KEYS and ARGV of one apply call: the band's keys, and one payload per event."""
    return keys.band_keys(band, generation), [payload(event, version) for version, event in entries]


def group_by_band(entries: Iterable[tuple[str, Event]]) -> dict[str, list[tuple[str, Event]]]:
    """Each band's ``(stream id, event)`` pairs, in log order."""
    batches: dict[str, list[tuple[str, Event]]] = {}
    for version, event in sorted(entries, key=lambda entry: stream_id_key(entry[0])):
        batches.setdefault(event.band, []).append((version, event))
    return batches


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """A sort key for Redis stream ids (``"<ms>-<seq>"``)."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
