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

from . import keys
from .schema import Schema

#: Band slugs, as the contract defines them.
BAND_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
#: Characters no id may hold: C0 and C1 control characters (a newline or a NUL in an id would
#: split the packed records of keys.py). Lone surrogates (not UTF-8) never get this far: the
#: JSON decoder refuses them.
_UNSAFE = r"\x00-\x1f\x7f-\x9f"
#: Show and song ids: any text a real source uses (any script, punctuation, spaces, emoji) with
#: at least one visible character and no control character. Stored escaped (keys.stored).
ID_PATTERN = rf"^[^{_UNSAFE}]*[^{_UNSAFE}\s][^{_UNSAFE}]*$"
#: The longest id, in characters: every id is part of several Redis keys and index members,
#: so it is bounded to keep each of them small (a 70-character title's slug fits easily).
ID_MAX = 200
#: The longest title, venue, band name or other text, in characters (stored inside JSON, so
#: any character is safe there).
TEXT_MAX = 500

Band = Annotated[str, msgspec.Meta(pattern=BAND_PATTERN)]
Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN, max_length=ID_MAX)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_MAX)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]
Position = Annotated[int, msgspec.Meta(ge=1, le=keys.POSITION_MAX)]
ShowOrder = Annotated[int, msgspec.Meta(ge=1, le=keys.ORDER_MAX)]
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
        elif "matching regex" in message and (at := re.search(r"at `\$\.(show_id|song_id)`", message)):
            message = (
                f"{at.group(1)} must hold a visible character and no control character "
                f"(a newline or NUL would split the stored records) - at `$.{at.group(1)}`"
            )
        elif at := re.search(r"of length <= (\d+) - at `\$\.([a-z_]+)`", message):
            message = (
                f"{at.group(2)} is longer than {at.group(1)} characters, the limit "
                f"(ids and texts are bounded to keep keys and records small) - at `$.{at.group(2)}`"
            )
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
