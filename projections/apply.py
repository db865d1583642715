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


def payload(event: Event, version: str, key_index: int = 0) -> bytes:
    """The apply script's ARGV entry for ``event``, found at stream id ``version``; its show's
    ``show:<id>`` key is ``KEYS[key_index]``."""
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
    body["k"] = key_index
    return _encode(body)


def script_input(band: str, generation: int, entries: Iterable[tuple[str, Event]]) -> tuple[list[str], list[bytes]]:
    """KEYS and ARGV of one apply call: the band's keys, then one ``show:<id>`` key per show named."""
    script_keys = keys.band_keys(band, generation)
    index: dict[str, int] = {}
    args = []
    for version, event in entries:
        if event.show_id not in index:
            script_keys.append(keys.show_key(band, event.show_id, generation))
            index[event.show_id] = len(script_keys)
        args.append(payload(event, version, index[event.show_id]))
    return script_keys, args


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
