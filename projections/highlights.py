"""Highlights: what a live play deserves to be told the moment it is applied, as typed events.

A play gets one highlight at most, of its most notable kind, in this order
(``lua/highlights.lua`` decides, from the projections after each apply); the highlight tells
the rest (its play number, gap in shows and days, previous play):

- ``debut``: the song's first play;
- ``bustout``: its first play in ``bustout_shows`` countable shows or more (default 101, per
  band settable), ``bustout_days``: in ``bustout_days`` days or more (default 365);
- ``milestone``: its 50th, 100th, 250th, 500th or 1000th play;
- ``first_of_year``: its first play of a calendar year (a debut is not also one).

A play is *live* when its show is dated within ``days`` (default 2) of today (UTC), either
side: a show in progress somewhere east of UTC is already tomorrow there. A backfill or an
import of older shows, and a rebuild, push nothing. Each highlight's ``id`` is
``band:show_id:position:kind``; it is pushed once, and retracted (``HighlightRetracted``,
same ``id``) when it stops holding while its show is live: the play or its show removed, or
an earlier play of the song added. Both go to the stream ``ss:highlights`` (``__data__``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import msgspec

from .schema import Schema

Kind = Literal["debut", "bustout", "bustout_days", "milestone", "first_of_year"]


class _Pushed(msgspec.Struct, Schema, kw_only=True, frozen=True, tag_field="type"):
    id: str
    kind: Kind
    band: str
    show_id: str
    position: int
    song_id: str
    date: str


class Highlight(_Pushed, tag="Highlight", frozen=True, kw_only=True):
    """A notable live play."""

    song_title: str | None = None
    play_number: int
    previous_play: str | None = None
    gap_shows: int | None = None
    gap_days: int | None = None


class HighlightRetracted(_Pushed, tag="HighlightRetracted", frozen=True, kw_only=True):
    """A highlight pushed earlier that no longer holds (same ``id``)."""


Pushed: TypeAlias = Highlight | HighlightRetracted
decode = msgspec.json.Decoder(Pushed).decode


@dataclass(frozen=True)
class Highlighting:
    """When a play is live, and the bustout thresholds (``Settings`` fills them in)."""

    days: int = 2
    bustout_shows: int = 101
    bustout_days: int = 365
    per_band: dict[str, int] = field(default_factory=dict)  # band -> its bustout_shows
    #: the stream's approximate length cap: a reader more than this far behind starts later
    kept: int = 100_000
    #: milliseconds one process may hold a band's outbox while it moves it to the stream
    #: (``batch.flush_outboxes``): a crashed holder's lock lapses after that
    flush_lock_ms: int = 5000
    today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date()

    def args(self, band: str) -> list[str | int]:
        today = self.today()
        window = dt.timedelta(days=self.days)
        shows = self.per_band.get(band, self.bustout_shows)
        return [(today - window).isoformat(), (today + window).isoformat(), shows, self.bustout_days, band]
