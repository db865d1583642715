"""An independent batch computation of every query, written from CONTRACT.md.

Plain Python over the list of events in log order; it shares no code with ``projections``.
The log is replayed one event after another (a later event replaces or removes what an
earlier one wrote; a ShowRemoved drops the show and every performance written before it);
then each query is computed from scratch over the resulting shows and performances.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


@dataclass
class Play:
    song_id: str
    show_id: str
    date: str
    position: int
    set: str
    show_index: int


@dataclass
class Band:
    band: str
    name: str | None = None
    shows: dict[str, Event] = field(default_factory=dict)
    slots: dict[tuple[str, int], Event] = field(default_factory=dict)
    titles: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    # derived by finish()
    order: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    plays: list[Play] = field(default_factory=list)
    by_song: dict[str, list[Play]] = field(default_factory=dict)
    previous: dict[tuple[str, int], Play | None] = field(default_factory=dict)  # (show, position) of a play
    by_show: dict[str, list[tuple[int, Event]]] = field(default_factory=dict)


def replay(events: list[Event]) -> dict[str, Band]:
    bands: dict[str, Band] = {}
    for e in events:
        b = bands.setdefault(e["band"], Band(e["band"]))
        kind = e["type"]
        if kind == "ShowRecorded":
            b.shows[e["show_id"]] = e
            if e.get("band_name") is not None:
                b.name = e["band_name"]
        elif kind == "ShowRemoved":
            b.shows.pop(e["show_id"], None)
            for slot in [s for s in b.slots if s[0] == e["show_id"]]:
                del b.slots[slot]
        elif kind == "PerformanceAdded":
            b.slots[(e["show_id"], e["position"])] = e
            b.titles[e["song_id"]] = (e["song_title"], e.get("song_slug"))
        elif kind == "PerformanceRemoved":
            b.slots.pop((e["show_id"], e["position"]), None)
    for b in bands.values():
        _finish(b)
    return bands


def _countable(show: Event) -> bool:
    return show.get("counts_for_stats", True)


def _finish(b: Band) -> None:
    countable = [s for s in b.shows.values() if _countable(s)]
    countable.sort(key=lambda s: (s["date"], s.get("show_order", 1), s["show_id"]))
    b.order = [s["show_id"] for s in countable]
    b.index = {show_id: i for i, show_id in enumerate(b.order)}
    for (show_id, position), p in sorted(b.slots.items(), key=lambda kv: (b.index.get(kv[0][0], -1), kv[0][1])):
        if show_id not in b.index or not p.get("counts_for_stats", True) or p["set"] == "s":
            continue
        play = Play(p["song_id"], show_id, b.shows[show_id]["date"], position, p["set"], b.index[show_id])
        b.plays.append(play)
        history = b.by_song.setdefault(p["song_id"], [])
        b.previous[(show_id, position)] = history[-1] if history else None
        history.append(play)
    for (show_id, position), p in sorted(b.slots.items(), key=lambda kv: kv[0][1]):
        b.by_show.setdefault(show_id, []).append((position, p))


def _days(a: str, b: str) -> int:
    return (dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days


def _minus(as_of: str, days: int) -> str:
    try:
        return (dt.date.fromisoformat(as_of) - dt.timedelta(days=days)).isoformat()
    except OverflowError:
        return "0000-00-00"


def _r1(total: float, count: int) -> float | None:
    return round(total / count, 1) if count > 0 else None


class Reference:
    def __init__(self, events: list[Event]) -> None:
        self.bands = replay(events)

    def _plays(self, b: Band, song: str, as_of: str) -> list[Play]:
        return [p for p in b.by_song.get(song, []) if p.date <= as_of]

    def _shows_upto(self, b: Band, as_of: str) -> list[str]:
        return [s for s in b.order if b.shows[s]["date"] <= as_of]

    def _title(self, b: Band, song: str) -> tuple[str, str | None]:
        return b.titles[song]

    def gaps(
        self, band: str, as_of: str, min_plays: int = 5, limit: int = 50, sort: str = "days"
    ) -> list[dict[str, Any]]:
        b = self.bands[band]
        total_shows = len(self._shows_upto(b, as_of))
        out = []
        for song in b.by_song:
            plays = self._plays(b, song, as_of)
            if not plays or len(plays) < min_plays:
                continue
            first, last = plays[0], plays[-1]
            shows = sorted({p.show_index for p in plays})
            title, slug = self._title(b, song)
            out.append(
                {
                    "song_id": song,
                    "song_title": title,
                    "song_slug": slug or "",
                    "last_played": last.date,
                    "days_since_played": _days(as_of, last.date),
                    "total_plays": len(plays),
                    "average_gap_days": _r1(_days(last.date, first.date), len(plays) - 1),
                    "shows_since_played": total_shows - 1 - last.show_index,
                    "average_gap_shows": _r1(shows[-1] - shows[0], len(shows) - 1),
                }
            )
        unit = "days_since_played" if sort == "days" else "shows_since_played"
        out.sort(key=lambda r: (-r[unit], r["song_title"], r["song_id"]))
        return out[:limit]

    def velocity(self, band: str, as_of: str, limit: int = 50) -> list[dict[str, Any]]:
        b = self.bands[band]
        out = []
        for song in b.by_song:
            plays = self._plays(b, song, as_of)
            if not plays:
                continue
            n30, n90, n365 = (sum(1 for p in plays if p.date >= _minus(as_of, n)) for n in (30, 90, 365))
            title, slug = self._title(b, song)
            out.append(
                {
                    "song_id": song,
                    "song_title": title,
                    "song_slug": slug or "",
                    "plays_last_30_days": n30,
                    "plays_last_90_days": n90,
                    "plays_last_year": n365,
                    "total_plays": len(plays),
                    "velocity_score": float(3 * n30 + 2 * n90 + n365),
                }
            )
        out.sort(key=lambda r: (-r["velocity_score"], r["song_title"], r["song_id"]))
        return out[:limit]

    def trends(self, band: str, as_of: str, period: str = "month") -> dict[str, Any]:
        b = self.bands[band]

        def key(date: str) -> str:
            if period == "month":
                return date[:7]
            if period == "quarter":
                return f"{date[:4]}-Q{(int(date[5:7]) - 1) // 3 + 1}"
            return date[:4]

        counts: dict[str, list[int]] = {}
        for show_id in self._shows_upto(b, as_of):
            counts.setdefault(key(b.shows[show_id]["date"]), [0, 0])[0] += 1
        for p in b.plays:
            if p.date <= as_of:
                counts[key(p.date)][1] += 1
        return {
            "vertical": b.name or band,
            "period_type": period,
            "trends": [{"period": k, "shows": v[0], "performances": v[1]} for k, v in sorted(counts.items())],
        }

    def stats(self, band: str, as_of: str) -> dict[str, Any]:
        b = self.bands[band]
        shows = self._shows_upto(b, as_of)
        plays = [p for p in b.plays if p.date <= as_of]
        known = {
            p["song_id"]
            for (show_id, _), p in b.slots.items()
            if show_id in b.shows and b.shows[show_id]["date"] <= as_of
        }
        return {
            "vertical_id": band,
            "vertical_name": b.name or band,
            "vertical_slug": band,
            "total_shows": len(shows),
            "total_songs": len(known),
            "total_performances": len(plays),
            "unique_songs_played": len({p.song_id for p in plays}),
            "avg_songs_per_show": round(len(plays) / len(shows), 1) if shows else 0.0,
            "first_show": b.shows[shows[0]]["date"] if shows else None,
            "last_show": b.shows[shows[-1]]["date"] if shows else None,
        }

    def bustouts(
        self, band: str, as_of: str, days: int = 365, gap_threshold: int | None = None, unit: str = "days"
    ) -> dict[str, Any]:
        b = self.bands[band]
        threshold = gap_threshold if gap_threshold is not None else (180 if unit == "days" else 101)
        start = _minus(as_of, days)
        out = []
        for p in b.plays:
            if not (start <= p.date <= as_of):
                continue
            prev = b.previous[(p.show_id, p.position)]
            if prev is None:
                continue
            gap_days, gap_shows = _days(p.date, prev.date), p.show_index - prev.show_index
            if (gap_days if unit == "days" else gap_shows) < threshold:
                continue
            title, slug = self._title(b, p.song_id)
            out.append(
                {
                    "song_id": p.song_id,
                    "song_title": title,
                    "song_slug": slug,
                    "bustout_date": p.date,
                    "show_id": p.show_id,
                    "show_slug": b.shows[p.show_id].get("slug"),
                    "gap_days": gap_days,
                    "gap_shows": gap_shows,
                    "previous_play": prev.date,
                }
            )
        gap = "gap_days" if unit == "days" else "gap_shows"
        out.sort(key=lambda r: (-r[gap], r["song_title"], r["song_id"]))
        return {"vertical": b.name or band, f"threshold_{unit}": threshold, "bustouts": out}

    def debuts(self, band: str, as_of: str, days: int = 365) -> dict[str, Any]:
        b = self.bands[band]
        start = _minus(as_of, days)
        out = []
        for song, history in b.by_song.items():
            first = history[0]
            if not (start <= first.date <= as_of):
                continue
            title, slug = self._title(b, song)
            out.append(
                {
                    "song_id": song,
                    "song_title": title,
                    "song_slug": slug,
                    "debut_date": first.date,
                    "show_id": first.show_id,
                    "show_slug": b.shows[first.show_id].get("slug"),
                    "times_played_since": len(self._plays(b, song, as_of)),
                }
            )
        out.sort(key=lambda r: (r["song_title"], r["song_id"]))
        out.sort(key=lambda r: r["debut_date"], reverse=True)
        return {"vertical": b.name or band, "period_days": days, "debuts": out}

    def song(self, band: str, song_id: str, as_of: str) -> dict[str, Any] | None:
        b = self.bands[band]
        if song_id not in b.titles:
            return None
        plays = self._plays(b, song_id, as_of)
        rows = []
        for i, p in enumerate(plays):
            prev = plays[i - 1] if i else None
            rows.append(
                {
                    "date": p.date,
                    "show_id": p.show_id,
                    "set": p.set,
                    "position": p.position,
                    "gap_shows": p.show_index - prev.show_index if prev else None,
                    "gap_days": _days(p.date, prev.date) if prev else None,
                }
            )
        shows = sorted({p.show_index for p in plays})
        gaps = [r["gap_shows"] for r in rows if r["gap_shows"] is not None]
        total_shows = len(self._shows_upto(b, as_of))
        return {
            "song_id": song_id,
            "song_title": b.titles[song_id][0],
            "total_plays": len(plays),
            "shows_played": len(shows),
            "debut_date": plays[0].date if plays else None,
            "last_played": plays[-1].date if plays else None,
            "days_since_played": _days(as_of, plays[-1].date) if plays else None,
            "shows_since_played": total_shows - 1 - shows[-1] if shows else None,
            "average_gap_days": _r1(_days(plays[-1].date, plays[0].date), len(plays) - 1) if plays else None,
            "average_gap_shows": _r1(shows[-1] - shows[0], len(shows) - 1) if shows else None,
            "longest_gap_shows": max(gaps) if gaps else None,
            "plays": rows,
        }

    def setlist(self, band: str, show_id: str, as_of: str) -> dict[str, Any] | None:
        b = self.bands[band]
        show = b.shows.get(show_id)
        if show is None or show["date"] > as_of:
            return None
        performances = []
        for position, p in b.by_show.get(show_id, []):
            is_play = (show_id, position) in b.previous
            prev = b.previous.get((show_id, position))
            title, slug = self._title(b, p["song_id"])
            gap_shows = b.index[show_id] - prev.show_index if prev else None
            performances.append(
                {
                    "position": position,
                    "set": p["set"],
                    "song_id": p["song_id"],
                    "song_title": title,
                    "song_slug": slug,
                    "transition": p.get("transition"),
                    "is_reprise": bool(p.get("is_reprise", False)),
                    "footnote": p.get("footnote"),
                    "counts_for_stats": p.get("counts_for_stats", True),
                    "gap_shows": gap_shows,
                    "gap_days": _days(show["date"], prev.date) if prev else None,
                    "is_debut": is_play and prev is None,
                    "is_bustout": gap_shows is not None and gap_shows >= 101,
                }
            )
        return {
            "band": band,
            "show_id": show_id,
            "date": show["date"],
            "show_order": show.get("show_order", 1),
            "slug": show.get("slug"),
            "venue": show.get("venue"),
            "city": show.get("city"),
            "state": show.get("state"),
            "country": show.get("country"),
            "tour": show.get("tour"),
            "counts_for_stats": _countable(show),
            "performances": performances,
        }

    def bands_(self, as_of: str) -> list[dict[str, Any]]:
        out = []
        for band in sorted(self.bands):
            s = self.stats(band, as_of)
            out.append(
                {
                    "band": band,
                    "band_name": s["vertical_name"],
                    "total_shows": s["total_shows"],
                    "total_performances": s["total_performances"],
                    "first_show": s["first_show"],
                    "last_show": s["last_show"],
                }
            )
        return out
