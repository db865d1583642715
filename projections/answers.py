"""Each query's answer shaped from its read script's rows: one function per query, chosen by
the type of its parameters (``answer``, a ``singledispatch``).

Each runs one read script (``lua/<query>.lua`` or ``lua/summary.lua``) through ``read``, the
``Queries`` reader, and builds the contract's answer Structs; ``bands``, which reads every
band, is ``Queries.bands``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from functools import singledispatch
from typing import Any, Protocol

import msgspec

from . import keys
from .contract import (
    DEFAULT_GAP_THRESHOLD,
    Bustout,
    Bustouts,
    BustoutsParams,
    Debut,
    Debuts,
    DebutsParams,
    GapRow,
    GapsParams,
    Params,
    QueryError,
    Setlist,
    SetlistParams,
    SetlistRow,
    Song,
    SongParams,
    SongPlay,
    Stats,
    StatsParams,
    TrendRow,
    Trends,
    TrendsParams,
    VelocityParams,
    VelocityRow,
)
from .values import text

_json = msgspec.json.Decoder()


class Reader(Protocol):
    """``Queries._read``: one read script over one generation of a band's keys."""

    def __call__(self, name: str, band: str, gen: int, args: list[Any], client: Any = None) -> Awaitable[Any]: ...


def _record(raw: bytes | None) -> dict[str, Any]:
    return _json.decode(raw) if raw else {}


def _details(record: dict[str, Any]) -> dict[str, Any]:
    """A record's details (an empty Lua table may come back as a JSON array)."""
    details = record.get("d")
    return details if isinstance(details, dict) else {}


def date_of(showkey: bytes | str) -> str:
    return showkey[:10].decode() if isinstance(showkey, bytes) else showkey[:10]


def _show_id(showkey: bytes) -> str:
    return keys.unstored(showkey[keys.SHOWKEY_ID :])


def _days(a: str, b: str) -> int:
    return (dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days


def band_name(name: bytes | None, band: str) -> str:
    """A band's name as stored, else its slug."""
    return text(name) if name else band


def _avg(total: int, count: int) -> float | None:
    return round(total / count, 1) if count > 0 else None


def _before(as_of: dt.date, days: int) -> dt.date:
    try:
        return as_of - dt.timedelta(days=days)
    except OverflowError:
        return dt.date.min


def _as_of(p: Params[Any]) -> dt.date:
    assert p.as_of is not None, "parse() fills as_of in"
    return p.as_of


async def summary(read: Reader, band: str, gen: int, as_of: dt.date, client: Any = None) -> list[Any]:
    """A band's totals as of a date (``summary.lua``); with ``client`` (a pipeline), queued there."""
    result: list[Any] = await read("summary", band, gen, [as_of.isoformat(), as_of.toordinal()], client=client)
    return result


@singledispatch
async def answer(p: Params[Any], read: Reader, gen: int) -> Any:
    """The answer to one band's question (``p``) on generation ``gen``."""
    raise TypeError(f"no answer for {type(p).__name__}")


@answer.register
async def gaps(p: GapsParams, read: Reader, gen: int) -> list[GapRow]:
    as_of = _as_of(p)
    args = [as_of.isoformat(), as_of.toordinal(), p.min_plays, p.sort, p.limit]
    total_shows, rows = await read("gaps", p.band, gen, args)
    out = []
    day = as_of.toordinal()
    for song_id, plays, shows, first_sk, last_sk, first_index, last_index, _, raw in rows:
        song = _record(raw)
        first, last = date_of(first_sk), date_of(last_sk)
        out.append(
            GapRow(
                song_id=keys.unstored(song_id),
                song_title=song["title"],
                song_slug=song.get("slug") or "",
                last_played=last,
                days_since_played=day - dt.date.fromisoformat(last).toordinal(),
                total_plays=plays,
                average_gap_days=_avg(_days(last, first), plays - 1),
                shows_since_played=total_shows - last_index - 1,
                average_gap_shows=_avg(last_index - first_index, shows - 1),
            )
        )
    return out


@answer.register
async def velocity(p: VelocityParams, read: Reader, gen: int) -> list[VelocityRow]:
    as_of = _as_of(p)
    windows = [_before(as_of, n).isoformat() for n in (30, 90, 365)]
    rows = await read("velocity", p.band, gen, [as_of.isoformat(), *windows, p.limit])
    out = []
    for song_id, total, p30, p90, p365, score, raw in rows:
        song = _record(raw)
        out.append(
            VelocityRow(
                song_id=keys.unstored(song_id),
                song_title=song["title"],
                song_slug=song.get("slug") or "",
                plays_last_30_days=p30,
                plays_last_90_days=p90,
                plays_last_year=p365,
                total_plays=total,
                velocity_score=float(score),
            )
        )
    return out


@answer.register
async def trends(p: TrendsParams, read: Reader, gen: int) -> Trends:
    name, months = await read("trends", p.band, gen, [_as_of(p).isoformat()])
    periods: dict[str, list[int]] = {}
    for i in range(0, len(months), 3):
        month = months[i].decode()
        if p.period == "month":
            key = month
        elif p.period == "year":
            key = month[:4]
        else:
            key = f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"
        counts = periods.setdefault(key, [0, 0])
        counts[0] += months[i + 1]
        counts[1] += months[i + 2]
    return Trends(
        vertical=band_name(name, p.band),
        period_type=p.period,
        trends=[TrendRow(period=k, shows=v[0], performances=v[1]) for k, v in sorted(periods.items())],
    )


@answer.register
async def stats(p: StatsParams, read: Reader, gen: int) -> Stats:
    name, shows, plays, played, known, first, last = await summary(read, p.band, gen, _as_of(p))
    return Stats(
        vertical_id=p.band,
        vertical_name=band_name(name, p.band),
        vertical_slug=p.band,
        total_shows=shows,
        total_songs=known,
        total_performances=plays,
        unique_songs_played=played,
        avg_songs_per_show=round(plays / shows, 1) if shows else 0.0,
        first_show=date_of(first) if first else None,
        last_show=date_of(last) if last else None,
    )


@answer.register
async def bustouts(p: BustoutsParams, read: Reader, gen: int) -> Bustouts:
    as_of, unit = _as_of(p), p.unit
    start = _before(as_of, p.days)
    threshold = p.gap_threshold
    assert threshold is not None, "parse() fills gap_threshold in"
    # where the script's scan of shows begins (see lua/bustouts.lua)
    scan = start if unit == "days" and threshold >= keys.HIATUS_DAYS else _before(start, keys.HIATUS_DAYS)
    args = [start.isoformat(), as_of.isoformat(), unit, threshold, scan.isoformat()]
    name, rows, records = await read("bustouts", p.band, gen, args)
    slugs = [_details(_record(raw)).get("slug") for raw in records]  # each show's, once for its rows
    out = []
    for raw, song_id, showkey, previous, gap_days, gap_shows, at in rows:
        song = _record(raw)
        out.append(
            Bustout(
                song_id=keys.unstored(song_id),
                song_title=song["title"],
                song_slug=song.get("slug"),
                bustout_date=date_of(showkey),
                show_id=_show_id(showkey),
                show_slug=slugs[at - 1],
                gap_days=gap_days,
                gap_shows=gap_shows,
                previous_play=date_of(previous),
            )
        )
    if unit == "days":
        out.sort(key=lambda r: (-r.gap_days, r.song_title, r.song_id))
        return Bustouts(vertical=band_name(name, p.band), threshold_days=threshold, bustouts=out)
    out.sort(key=lambda r: (-r.gap_shows, r.song_title, r.song_id))
    return Bustouts(vertical=band_name(name, p.band), threshold_shows=threshold, bustouts=out)


@answer.register
async def debuts(p: DebutsParams, read: Reader, gen: int) -> Debuts:
    as_of = _as_of(p)
    start = _before(as_of, p.days)
    args = [start.toordinal(), as_of.toordinal(), as_of.isoformat()]
    name, rows = await read("debuts", p.band, gen, args)
    out = []
    for raw, song_id, showkey, plays, show_raw in rows:
        song, show = _record(raw), _record(show_raw)
        out.append(
            Debut(
                song_id=keys.unstored(song_id),
                song_title=song["title"],
                song_slug=song.get("slug"),
                debut_date=date_of(showkey),
                show_id=_show_id(showkey),
                show_slug=_details(show).get("slug"),
                times_played_since=plays,
            )
        )
    out.sort(key=lambda r: (r.song_title, r.song_id))
    out.sort(key=lambda r: r.debut_date, reverse=True)
    return Debuts(vertical=band_name(name, p.band), period_days=p.days, debuts=out)


@answer.register
async def song(p: SongParams, read: Reader, gen: int) -> Song:
    as_of = _as_of(p).isoformat()
    result = await read("song", p.band, gen, [keys.stored(p.song_id), as_of])
    if not result:
        raise QueryError("not_found", "Song not found", "song_id")
    raw, total_shows, rows = result
    record = _record(raw)
    plays: list[SongPlay] = []
    shows: list[int] = []
    previous: tuple[str, int] | None = None
    for showkey, position, set_label, index in rows:
        date = date_of(showkey)
        plays.append(
            SongPlay(
                date=date,
                show_id=_show_id(showkey),
                set=set_label.decode(),
                position=position,
                gap_shows=index - previous[1] if previous else None,
                gap_days=_days(date, previous[0]) if previous else None,
            )
        )
        if not shows or shows[-1] != index:
            shows.append(index)
        previous = (date, index)
    gaps = [play.gap_shows for play in plays if play.gap_shows is not None]
    first, last = (plays[0].date, plays[-1].date) if plays else (None, None)
    return Song(
        song_id=p.song_id,
        song_title=record["title"],
        total_plays=len(plays),
        shows_played=len(shows),
        debut_date=first,
        last_played=last,
        days_since_played=_days(as_of, last) if last else None,
        shows_since_played=total_shows - shows[-1] - 1 if shows else None,
        average_gap_days=_avg(_days(last, first), len(plays) - 1) if last and first else None,
        average_gap_shows=_avg(shows[-1] - shows[0], len(shows) - 1) if shows else None,
        longest_gap_shows=max(gaps) if gaps else None,
        plays=plays,
    )


@answer.register
async def setlist(p: SetlistParams, read: Reader, gen: int) -> Setlist:
    args = [keys.stored(p.show_id), _as_of(p).isoformat()]
    result = await read("setlist", p.band, gen, args)
    if not result:
        raise QueryError("not_found", "Show not found", "show_id")
    show_raw, rows = result
    show = _record(show_raw)
    details = _details(show)
    performances = []
    for position, slot_raw, song_raw, is_play, previous, gap_shows in rows:
        _, set_label, song_id, counts, transition, reprise, footnote = _json.decode(slot_raw)
        record = _record(song_raw)
        performances.append(
            SetlistRow(
                position=position,
                set=set_label,
                song_id=keys.unstored(song_id),
                song_title=record.get("title"),
                song_slug=record.get("slug"),
                transition=transition or None,
                is_reprise=bool(reprise),
                footnote=footnote or None,
                counts_for_stats=bool(counts),
                gap_shows=gap_shows if previous else None,
                gap_days=_days(show["date"], date_of(previous)) if previous else None,
                is_debut=bool(is_play) and not previous,
                is_bustout=bool(previous) and gap_shows >= DEFAULT_GAP_THRESHOLD["shows"],
            )
        )
    return Setlist(
        band=p.band,
        show_id=p.show_id,
        date=show["date"],
        show_order=show["ord"],
        slug=details.get("slug"),
        venue=details.get("venue"),
        city=details.get("city"),
        state=details.get("state"),
        country=details.get("country"),
        tour=details.get("tour"),
        counts_for_stats=show["counts"],
        performances=performances,
    )
