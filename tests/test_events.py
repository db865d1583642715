"""Event decoding and validation: what is accepted, and the reason given for what is not."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from projections.apply import payload
from projections.events import (
    InvalidEvent,
    PerformanceAdded,
    ShowRecorded,
    ShowRemoved,
    decode_event,
    encode_event,
)

SHOW = {"type": "ShowRecorded", "event_id": "e1", "band": "phish", "show_id": "1", "date": "2024-06-01"}
PERF = {
    "type": "PerformanceAdded",
    "event_id": "e2",
    "band": "phish",
    "show_id": "1",
    "position": 1,
    "set": "1",
    "song_id": "tweezer",
    "song_title": "Tweezer",
}


def test_defaults_and_unknown_fields() -> None:
    show = decode_event(json.dumps({**SHOW, "extra": [1, 2]}))
    assert isinstance(show, ShowRecorded)
    assert (show.date, show.show_order, show.counts_for_stats, show.venue) == (dt.date(2024, 6, 1), 1, True, None)
    perf = decode_event(json.dumps(PERF))
    assert isinstance(perf, PerformanceAdded)
    assert (perf.transition, perf.is_reprise, perf.counts_for_stats) == (None, False, True)


def test_round_trip() -> None:
    event = decode_event(json.dumps({**PERF, "transition": "->", "footnote": "tease"}))
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe\x00", "not valid"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "Expected `object`"),
        (json.dumps({**SHOW, "type": "ShowCancelled"}), "unknown event type"),
        (json.dumps({k: v for k, v in SHOW.items() if k != "type"}), "missing required field `type`"),
        (json.dumps({k: v for k, v in SHOW.items() if k != "event_id"}), "event_id"),
        (json.dumps({**SHOW, "band": "Phish!"}), "$.band"),
        (json.dumps({**SHOW, "band": "a" * 65}), "$.band"),
        (json.dumps({**SHOW, "date": "2024-02-30"}), "$.date"),
        (json.dumps({**SHOW, "date": "June 1st"}), "$.date"),
        (json.dumps({**SHOW, "date": "0999-12-31"}), "$.date"),
        (json.dumps({**SHOW, "show_order": 0}), "$.show_order"),
        (json.dumps({**SHOW, "show_order": "1"}), "$.show_order"),
        (json.dumps({**SHOW, "counts_for_stats": "yes"}), "$.counts_for_stats"),
        (json.dumps({**SHOW, "venue": "v" * 501}), "longer than 500 characters"),
        (json.dumps({**SHOW, "show_id": "a" * 201}), "show_id is longer than 200 characters"),
        (json.dumps({**SHOW, "show_id": "line\nbreak"}), "show_id must hold a visible character"),
        (json.dumps({**SHOW, "show_id": "   "}), "$.show_id"),
        (json.dumps({**PERF, "song_id": "nul\u0000"}), "$.song_id"),
        (json.dumps({**PERF, "song_id": "c1\u0085"}), "$.song_id"),
        (json.dumps({**PERF, "position": 0}), "$.position"),
        (json.dumps({**PERF, "position": 10_000}), "$.position"),
        (json.dumps({**PERF, "position": 1.5}), "$.position"),
        (json.dumps({**PERF, "set": "x"}), "$.set"),
        (json.dumps({**PERF, "set": 1}), "$.set"),
        (json.dumps({**PERF, "transition": "~>"}), "$.transition"),
        (json.dumps({**PERF, "song_title": ""}), "$.song_title"),
        (json.dumps({**PERF, "song_title": "t" * 501}), "$.song_title"),
        (json.dumps({**PERF, "footnote": "f" * 2001}), "$.footnote"),
        (json.dumps({k: v for k, v in PERF.items() if k != "song_id"}), "song_id"),
        (json.dumps({"type": "ShowRemoved", "event_id": "e", "band": "phish"}), "show_id"),
        (json.dumps({"type": "PerformanceRemoved", "event_id": "e", "band": "phish", "show_id": "1"}), "position"),
    ],
)
def test_invalid_events_name_the_reason(raw: bytes | str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw)
    assert reason in str(info.value)


def test_every_set_label_is_accepted() -> None:
    for label in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "e", "e2", "e3", "p", "s"):
        assert decode_event(json.dumps({**PERF, "set": label})).set == label  # type: ignore[union-attr]


def test_payload_carries_the_log_position() -> None:
    removed = decode_event(json.dumps({"type": "ShowRemoved", "event_id": "e", "band": "phish", "show_id": "9"}))
    assert isinstance(removed, ShowRemoved)
    assert json.loads(payload(removed, "17-3")) == {"t": "R", "v": "17-3", "id": "9"}
    show = json.loads(payload(decode_event(json.dumps({**SHOW, "venue": "MSG", "band_name": "Phish"})), "1-0"))
    assert show == {
        "t": "S",
        "v": "1-0",
        "id": "1",
        "date": "2024-06-01",
        "ord": 1,
        "counts": True,
        "d": {"venue": "MSG"},
        "name": "Phish",
    }
    perf = json.loads(payload(decode_event(json.dumps({**PERF, "transition": ">", "is_reprise": True})), "2-0"))
    assert perf == {
        "t": "P",
        "v": "2-0",
        "id": "1",
        "pos": 1,
        "set": "1",
        "song": "tweezer",
        "title": "Tweezer",
        "counts": True,
        "tr": ">",
        "rep": True,
    }


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidEvent):
        decode_event(json.dumps({**SHOW, "show_id": "a\ud800"}))
