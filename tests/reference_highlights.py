"""The highlights a band's final state gives its live plays, computed from the independent
reference (``reference.Reference``), as CONTRACT.md and projections/highlights.py define them."""

from __future__ import annotations

from typing import Any

from reference import Reference, _days

MILESTONES = (50, 100, 250, 500, 1000)


def highlights(
    ref: Reference, band: str, first_day: str, last_day: str, bustout_shows: int = 101, bustout_days: int = 365
) -> dict[str, dict[str, Any]]:
    """The highlights the final state gives a band's live plays (shows dated first_day ..
    last_day), by id, one a play at most, the first that holds of: a debut (the song's first
    play), a bustout (its first in bustout_shows shows or more; else in bustout_days days or
    more), a milestone (its 50th, 100th, ... play), its first play of a calendar year."""
    b = ref.bands.get(band)
    out: dict[str, dict[str, Any]] = {}
    if b is None:
        return out
    for song, history in b.by_song.items():
        for n, play in enumerate(history, start=1):
            if not first_day <= play.date <= last_day:
                continue
            prev = history[n - 2] if n > 1 else None
            kinds = []  # the most notable only
            if prev is None:
                kinds.append("debut")
            elif play.show_index - prev.show_index >= bustout_shows:
                kinds.append("bustout")
            elif _days(play.date, prev.date) >= bustout_days:
                kinds.append("bustout_days")
            elif n in MILESTONES:
                kinds.append("milestone")
            elif prev.date[:4] < play.date[:4]:
                kinds.append("first_of_year")
            for kind in kinds:
                hid = f"{band}:{play.show_id}:{play.position}:{kind}"
                out[hid] = {
                    "kind": kind,
                    "song_id": song,
                    "show_id": play.show_id,
                    "position": play.position,
                    "date": play.date,
                    "play_number": n,
                    "gap_shows": play.show_index - prev.show_index if prev else None,
                    "gap_days": _days(play.date, prev.date) if prev else None,
                }
    return out
