"""The contract's events as msgspec tagged-union Structs, and their strict decoder.

Unknown fields are ignored; missing required fields, wrong types and values out of range
make an event invalid (``InvalidEvent`` carries the reason). New fields go last, with
defaults; existing field types never change.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal, TypeAlias

import msgspec

from .schema import Schema

#: Band slugs, as the contract defines them.
BAND_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
#: Show, song and event ids: no spaces, every character sorts above ``!`` (see keys.py).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+#-]{0,63}$"

Band = Annotated[str, msgspec.Meta(pattern=BAND_PATTERN)]
Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Text = Annotated[str, msgspec.Meta(max_length=200)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]
Position = Annotated[int, msgspec.Meta(ge=1, le=9999)]
ShowOrder = Annotated[int, msgspec.Meta(ge=1, le=999_999)]
SetLabel = Literal["1", "2", "3", "4", "5", "6", "7", "8", "9", "e", "e2", "e3", "p", "s"]
Transition = Literal[",", ">", "->"]

SOUNDCHECK = "s"
MIN_DATE = dt.date(1000, 1, 1)


class _Event(msgspec.Struct, Schema, kw_only=True, frozen=True, tag_field="type"):
    event_id: EventId
    band: Band


class ShowRecorded(_Event, tag="ShowRecorded", frozen=True):
    show_id: Id
    date: dt.date
    show_order: ShowOrder = 1
    band_name: Text | None = None
    venue: Text | None = None
    city: Text | None = None
    state: Text | None = None
    country: Text | None = None
    tour: Text | None = None
    slug: Text | None = None
    counts_for_stats: bool = True


class PerformanceAdded(_Event, tag="PerformanceAdded", frozen=True):
    show_id: Id
    position: Position
    set: SetLabel
    song_id: Id
    song_title: Title
    song_slug: Text | None = None
    transition: Transition | None = None
    is_reprise: bool = False
    footnote: Note | None = None
    counts_for_stats: bool = True


class PerformanceRemoved(_Event, tag="PerformanceRemoved", frozen=True):
    show_id: Id
    position: Position


class ShowRemoved(_Event, tag="ShowRemoved", frozen=True):
    show_id: Id


Event: TypeAlias = ShowRecorded | PerformanceAdded | PerformanceRemoved | ShowRemoved
EVENT_TYPES = ("ShowRecorded", "PerformanceAdded", "PerformanceRemoved", "ShowRemoved")


class InvalidEvent(ValueError):
    """An event that cannot be decoded or fails validation; the message is the reason and
    ``field`` the top-level field at fault, where there is one."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        at = re.search(r"at `\$\.([A-Za-z_]+)|missing required field `([A-Za-z_]+)`", message)
        self.field = (at.group(1) or at.group(2)) if at else None


_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()


def decode_event(raw: bytes | str) -> Event:
    """Decode and validate one event's JSON, or raise ``InvalidEvent`` with the reason."""
    try:
        event: Event = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if "Invalid value" in message and "$.type" in message:
            message = f"unknown event type; expected one of {', '.join(EVENT_TYPES)}"
        raise InvalidEvent(message) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not valid UTF-8: {exc}") from None
    if isinstance(event, ShowRecorded) and event.date < MIN_DATE:
        raise InvalidEvent(f"date {event.date.isoformat()} is before {MIN_DATE.isoformat()} - at `$.date`")
    return event


def encode_event(event: Event) -> bytes:
    """The event's JSON, as written to the stream's ``__data__`` field."""
    return _encoder.encode(event)
