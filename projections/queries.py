"""The nine queries: validated parameters in, the contract's JSON answer out.

Each query runs one read script (``lua/<query>.lua`` or ``lua/summary.lua``) over the band's
projection and shapes its rows here; nothing reads a band's whole performance history.

Answers are cached (encoded) under the band's change stamp, which every apply that changes
the band bumps atomically with the change: a cached answer is served only while nothing it
depends on has changed. After a live change, ``refresh`` answers the band's recently asked
questions again, so that the next asker finds them ready.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from . import keys
from .params import QueryError, validate
from .scripts import Scripts
from .values import number, text

_json = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
#: Questions per band that ``Queries.refresh`` answers again after a live change: the ones
#: answered most recently.
REFRESHED_PER_BAND = 32
#: Set by ``Queries._answer_with_probe``: where ``Queries._read`` keeps the probe's replies.
_PROBE: ContextVar[list[Any] | None] = ContextVar("probe", default=None)


def _record(raw: bytes | None) -> dict[str, Any]:
    return _json.decode(raw) if raw else {}


def _details(record: dict[str, Any]) -> dict[str, Any]:
    """A record's details (an empty Lua table may come back as a JSON array)."""
    details = record.get("d")
    return details if isinstance(details, dict) else {}


def _date(showkey: bytes | str) -> str:
    return showkey[:10].decode() if isinstance(showkey, bytes) else showkey[:10]


def _show_id(showkey: bytes) -> str:
    return showkey[18:].decode()


def _days(a: str, b: str) -> int:
    return (dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days


def _band_name(name: bytes | None, band: str) -> str:
    """A band's name as stored, else its slug."""
    return text(name) if name else band


def _avg(total: int, count: int) -> float | None:
    return round(total / count, 1) if count > 0 else None


def _before(as_of: dt.date, days: int) -> dt.date:
    try:
        return as_of - dt.timedelta(days=days)
    except OverflowError:
        return dt.date.min


class Queries:
    """Answers queries from the projections of one Redis."""

    def __init__(self, scripts: Scripts, cache_size: int = 4096) -> None:
        self.scripts = scripts
        self.redis = scripts.redis
        self._cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._cache_size = cache_size
        self._computing: dict[tuple[Any, ...], asyncio.Future[bytes]] = {}  # answers being computed
        self._probing: dict[tuple[Any, ...], asyncio.Future[bytes | None]] = {}  # ... with their probe
        self._under_way: set[asyncio.Future[Any]] = set()  # every computation running (see close)
        self._known: OrderedDict[tuple[Any, ...], None] = OrderedDict()  # questions answered here
        self._generation = keys.FIRST_GENERATION  # the last one seen
        self._bands: list[str] = []  # every band, as the last question about all of them found them
        # a band's row of `bands` under (generation, band, stamp, as_of): after a change to one
        # band, `bands` reads the summary of that band alone
        self._band_rows: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._changed: set[str] = set()  # bands this process changed since it last probed them
        # per band, the questions answered most recently (the ones refresh() answers again)
        self._asked: dict[str, OrderedDict[tuple[Any, ...], dict[str, Any]]] = {}
        self._handlers: dict[str, Callable[[dict[str, Any], int], Awaitable[Any]]] = {
            "gaps": self.gaps,
            "velocity": self.velocity,
            "trends": self.trends,
            "stats": self.stats,
            "bustouts": self.bustouts,
            "debuts": self.debuts,
            "song": self.song,
            "setlist": self.setlist,
        }  # and bands, which reads every band

    async def answer(self, query: str, params: Any, today: dt.date | None = None) -> Any:
        """The answer to ``query`` with ``params`` (a fresh object); raises ``QueryError``."""
        return _json.decode(await self.answer_json(query, params, today))

    def changed(self, band: str) -> None:
        """This process has just changed ``band`` (a write-through): its next question will
        not find a cached answer, so the question's script goes along with the probe."""
        self._changed.add(band)

    async def answer_json(self, query: str, params: Any, today: dt.date | None = None) -> bytes:
        """The answer to ``query`` with ``params``, encoded as JSON; raises ``QueryError``."""
        checked = validate(query, params, today)
        question = (query, *sorted(checked.items()))  # with the generation and stamps, the cache key
        answer = None
        if query != "bands" and (checked["band"] in self._changed or question not in self._known):
            # no answer to find in the cache (the band changed here, or a question new to this
            # process): its script goes along with the probe, one computation at a time
            self._changed.discard(checked["band"])
            # joined only by those who asked before its read went out (its first step): a
            # later asker may have seen a change since, and reads for itself
            probe = partial(self._answer_with_probe, question, checked)
            answer = await self._shared(self._probing, question, probe, until_sent=True)
        if answer is None:
            answer = await self._answer_checked(question, checked)
        if query != "bands":
            self._remember(question, checked)
        return answer

    async def refresh(self, band: str) -> int:
        """Answer again, into the cache, the questions about ``band`` asked most recently
        (``REFRESHED_PER_BAND``), so that whoever asks one next finds it ready; called after
        a live change to the band. Returns how many were answered."""
        self._changed.discard(band)  # the questions go the usual way: probe, then script
        answered = 0
        for question, checked in list(self._asked.get(band, {}).items()):
            try:
                await self._answer_checked(question, checked)
            except QueryError:  # refused now (the band's generation rebuilt without it...)
                continue
            answered += 1
        return answered

    def _remember(self, question: tuple[Any, ...], checked: dict[str, Any]) -> None:
        asked = self._asked.setdefault(checked["band"], OrderedDict())
        asked[question] = checked
        asked.move_to_end(question)
        if len(asked) > REFRESHED_PER_BAND:
            asked.popitem(last=False)

    async def _answer_checked(self, question: tuple[Any, ...], checked: dict[str, Any]) -> bytes:
        """The answer to a question (the query and its checked parameters): from the cache if
        nothing it depends on has changed, else computed and kept."""
        query = question[0]
        if query == "bands":
            generation, stamps = await self._probe_all()
        else:
            generation, stamp = await self._probe(checked["band"])
            stamps = ((checked["band"], stamp),)
        key = (generation, stamps, question)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        # one computation of a question at a time: those asking it meanwhile await it (a
        # burst of fans after a change runs one script, not one each); each of them read the
        # stamp after asking, and the computation reads a state no older than that stamp
        answer: bytes = await self._shared(self._computing, key, partial(self._compute, key, checked))
        return answer

    async def _compute(self, key: tuple[Any, ...], checked: dict[str, Any]) -> bytes:
        """A question's answer computed, and kept under ``key`` (generation, stamps, question)."""
        generation, stamps, question = key
        if question[0] == "bands":
            answer = _encode(await self.bands(checked, generation, stamps))
        else:
            answer = _encode(await self._handlers[question[0]](checked, generation))
        self._keep(key, answer)
        return answer

    async def _shared(
        self,
        under_way: dict[tuple[Any, ...], Any],
        key: tuple[Any, ...],
        computation: Callable[[], Coroutine[Any, Any, Any]],
        until_sent: bool = False,
    ) -> Any:
        """The result of the computation of ``key`` under way, else of a new one (a task of its
        own, awaited shielded, so that one asker's going does not cancel it for the others;
        ``close`` ends what is left). ``until_sent``: joinable only until its first step."""
        task = under_way.get(key)
        if task is None:
            task = under_way[key] = asyncio.ensure_future(computation())
            self._under_way.add(task)
            task.add_done_callback(lambda done: self._done(under_way, key, done))
            if until_sent:
                asyncio.get_running_loop().call_soon(self._closed, under_way, key, task)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Cancel the computations under way (their askers are gone: the process is stopping),
        so that none of them reads through a connection after its client is closed."""
        tasks = list(self._under_way)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _closed(under_way: dict[tuple[Any, ...], Any], key: tuple[Any, ...], task: asyncio.Future[Any]) -> None:
        """A computation takes no more askers: the next one starts another (or finds it cached)."""
        if under_way.get(key) is task:
            del under_way[key]

    def _done(self, under_way: dict[tuple[Any, ...], Any], key: tuple[Any, ...], task: asyncio.Future[Any]) -> None:
        """A computation has ended."""
        self._closed(under_way, key, task)
        self._under_way.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, in case every asker has gone

    def _keep(self, key: tuple[Any, ...], answer: bytes) -> None:
        self._cache[key] = answer
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        question = key[2]
        self._known[question] = None
        self._known.move_to_end(question)
        if len(self._known) > self._cache_size:
            self._known.popitem(last=False)

    async def _answer_with_probe(self, question: tuple[Any, ...], checked: dict[str, Any]) -> bytes | None:
        """The answer in one round trip: the probe and the query's script in one pipeline,
        on the generation seen last (the answer is kept under the stamp read before the
        script ran, so it is never older than its key). None if the generation has changed:
        the caller asks again the usual way."""
        band = checked["band"]
        probe: list[Any] = []
        token = _PROBE.set(probe)
        try:
            answer: bytes | QueryError = _encode(await self._handlers[question[0]](checked, self._generation))
        except QueryError as exc:
            answer = exc
        finally:
            _PROBE.reset(token)
        if not probe:  # refused before reading (not a question of this band's state)
            if isinstance(answer, QueryError):
                raise answer
            return None
        current, known, stamp = probe
        if not known:
            raise QueryError("not_found", "Band not found", "band")
        if number(current, keys.FIRST_GENERATION) != self._generation:
            return None
        if isinstance(answer, QueryError):
            raise answer
        self._keep((self._generation, ((band, stamp or b"0"),), question), answer)
        return answer

    async def _read(
        self, name: str, band: str, gen: int, args: list[Any], extra_keys: Sequence[str] = (), client: Any = None
    ) -> Any:
        """A query's read script (``Scripts.read``); under ``_answer_with_probe``, the probe goes
        first in the same pipeline and its replies (generation, band known, stamp) are kept."""
        probe = _PROBE.get()
        if probe is None or client is not None:
            return await self.scripts.read(name, band, gen, args, extra_keys, client=client)

        async def queue(pipe: Pipeline) -> None:
            pipe.hget(keys.GENERATION, "current")
            pipe.sismember(keys.BANDS, band)
            pipe.get(keys.band_key(band, "stamp", gen))
            await self.scripts.read(name, band, gen, args, extra_keys, client=pipe)

        *replies, result = await self.scripts.pipelined(queue)
        probe[:] = replies
        if isinstance(result, Exception):
            raise result
        return result

    async def _probe(self, band: str) -> tuple[int, bytes]:
        """The current generation and the band's change stamp, in one round trip (two if the
        generation changed); raises "Band not found"."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.GENERATION, "current")
            pipe.sismember(keys.BANDS, band)
            pipe.get(keys.band_key(band, "stamp", self._generation))
            current, known, stamp = await pipe.execute()
        if not known:
            raise QueryError("not_found", "Band not found", "band")
        generation = number(current, keys.FIRST_GENERATION)
        if generation != self._generation:
            self._generation = generation
            stamp = await self.redis.get(keys.band_key(band, "stamp", generation))
        return generation, stamp or b"0"

    async def _probe_all(self) -> tuple[int, tuple[tuple[str, bytes], ...]]:
        """The current generation and every band with its change stamp: one round trip while
        the bands and the generation are those seen last, else two."""
        seen, asked = self._bands, self._generation
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.GENERATION, "current")
            pipe.smembers(keys.BANDS)
            if seen:
                pipe.mget([keys.band_key(b, "stamp", asked) for b in seen])
            current, members, *read = await pipe.execute()
        generation = number(current, keys.FIRST_GENERATION)
        bands = sorted(text(b) for b in members)
        if bands != seen or generation != asked:  # read the stamps of the bands there are now
            self._generation, self._bands = generation, bands
            read = [await self.redis.mget([keys.band_key(b, "stamp", generation) for b in bands])] if bands else []
        stamps = read[0] if read else []
        return generation, tuple((band, stamp or b"0") for band, stamp in zip(bands, stamps, strict=True))

    async def _summary(self, band: str, gen: int, as_of: dt.date, client: Any = None) -> list[Any]:
        """A band's totals as of a date (``summary.lua``); with ``client`` (a pipeline), queued there."""
        args = [as_of.isoformat(), as_of.toordinal()]
        result: list[Any] = await self._read("summary", band, gen, args, client=client)
        return result

    async def gaps(self, p: dict[str, Any], gen: int) -> list[dict[str, Any]]:
        as_of = p["as_of"]
        args = [as_of.isoformat(), as_of.toordinal(), p["min_plays"], p["sort"], p["limit"]]
        total_shows, rows = await self._read("gaps", p["band"], gen, args)
        out = []
        day = as_of.toordinal()
        for song_id, plays, shows, first_sk, last_sk, first_index, last_index, _, raw in rows:
            song = _record(raw)
            first, last = _date(first_sk), _date(last_sk)
            out.append(
                {
                    "song_id": song_id.decode(),
                    "song_title": song["title"],
                    "song_slug": song.get("slug") or "",
                    "last_played": last,
                    "days_since_played": day - dt.date.fromisoformat(last).toordinal(),
                    "total_plays": plays,
                    "average_gap_days": _avg(_days(last, first), plays - 1),
                    "shows_since_played": total_shows - last_index - 1,
                    "average_gap_shows": _avg(last_index - first_index, shows - 1),
                }
            )
        return out

    async def velocity(self, p: dict[str, Any], gen: int) -> list[dict[str, Any]]:
        as_of = p["as_of"]
        windows = [_before(as_of, n).isoformat() for n in (30, 90, 365)]
        rows = await self._read("velocity", p["band"], gen, [as_of.isoformat(), *windows, p["limit"]])
        out = []
        for song_id, total, p30, p90, p365, score, raw in rows:
            song = _record(raw)
            out.append(
                {
                    "song_id": song_id.decode(),
                    "song_title": song["title"],
                    "song_slug": song.get("slug") or "",
                    "plays_last_30_days": p30,
                    "plays_last_90_days": p90,
                    "plays_last_year": p365,
                    "total_plays": total,
                    "velocity_score": float(score),
                }
            )
        return out

    async def trends(self, p: dict[str, Any], gen: int) -> dict[str, Any]:
        name, months = await self._read("trends", p["band"], gen, [p["as_of"].isoformat()])
        periods: dict[str, list[int]] = {}
        period = p["period"]
        for i in range(0, len(months), 3):
            month = months[i].decode()
            if period == "month":
                key = month
            elif period == "year":
                key = month[:4]
            else:
                key = f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"
            counts = periods.setdefault(key, [0, 0])
            counts[0] += months[i + 1]
            counts[1] += months[i + 2]
        return {
            "vertical": _band_name(name, p["band"]),
            "period_type": p["period"],
            "trends": [{"period": k, "shows": v[0], "performances": v[1]} for k, v in sorted(periods.items())],
        }

    async def stats(self, p: dict[str, Any], gen: int) -> dict[str, Any]:
        name, shows, plays, played, known, first, last = await self._summary(p["band"], gen, p["as_of"])
        return {
            "vertical_id": p["band"],
            "vertical_name": _band_name(name, p["band"]),
            "vertical_slug": p["band"],
            "total_shows": shows,
            "total_songs": known,
            "total_performances": plays,
            "unique_songs_played": played,
            "avg_songs_per_show": round(plays / shows, 1) if shows else 0.0,
            "first_show": _date(first) if first else None,
            "last_show": _date(last) if last else None,
        }

    async def bustouts(self, p: dict[str, Any], gen: int) -> dict[str, Any]:
        as_of, unit = p["as_of"], p["unit"]
        start, threshold = _before(as_of, p["days"]), p["gap_threshold"]
        # where the script's scan of shows begins (see lua/bustouts.lua)
        scan = start if unit == "days" and threshold >= keys.HIATUS_DAYS else _before(start, keys.HIATUS_DAYS)
        args = [start.isoformat(), as_of.isoformat(), unit, threshold, scan.isoformat()]
        name, rows, records = await self._read("bustouts", p["band"], gen, args)
        slugs = [_details(_record(raw)).get("slug") for raw in records]  # each show's, once for its rows
        out = []
        for raw, song_id, showkey, previous, gap_days, gap_shows, at in rows:
            song = _record(raw)
            out.append(
                {
                    "song_id": song_id.decode(),
                    "song_title": song["title"],
                    "song_slug": song.get("slug"),
                    "bustout_date": _date(showkey),
                    "show_id": _show_id(showkey),
                    "show_slug": slugs[at - 1],
                    "gap_days": gap_days,
                    "gap_shows": gap_shows,
                    "previous_play": _date(previous),
                }
            )
        gap = "gap_days" if unit == "days" else "gap_shows"
        out.sort(key=lambda r: (-r[gap], r["song_title"], r["song_id"]))
        return {
            "vertical": _band_name(name, p["band"]),
            f"threshold_{unit}": threshold,
            "bustouts": out,
        }

    async def debuts(self, p: dict[str, Any], gen: int) -> dict[str, Any]:
        as_of = p["as_of"]
        start = _before(as_of, p["days"])
        args = [start.toordinal(), as_of.toordinal(), as_of.isoformat()]
        name, rows = await self._read("debuts", p["band"], gen, args)
        out = []
        for raw, song_id, showkey, plays, show_raw in rows:
            song, show = _record(raw), _record(show_raw)
            out.append(
                {
                    "song_id": song_id.decode(),
                    "song_title": song["title"],
                    "song_slug": song.get("slug"),
                    "debut_date": _date(showkey),
                    "show_id": _show_id(showkey),
                    "show_slug": _details(show).get("slug"),
                    "times_played_since": plays,
                }
            )
        out.sort(key=lambda r: (r["song_title"], r["song_id"]))
        out.sort(key=lambda r: r["debut_date"], reverse=True)
        return {"vertical": _band_name(name, p["band"]), "period_days": p["days"], "debuts": out}

    async def song(self, p: dict[str, Any], gen: int) -> dict[str, Any]:
        as_of = p["as_of"].isoformat()
        result = await self._read("song", p["band"], gen, [p["song_id"], as_of])
        if not result:
            raise QueryError("not_found", "Song not found", "song_id")
        raw, total_shows, rows = result
        song = _record(raw)
        plays: list[dict[str, Any]] = []
        shows: list[int] = []
        previous: tuple[str, int] | None = None
        for showkey, position, set_label, index in rows:
            date = _date(showkey)
            plays.append(
                {
                    "date": date,
                    "show_id": _show_id(showkey),
                    "set": set_label.decode(),
                    "position": position,
                    "gap_shows": index - previous[1] if previous else None,
                    "gap_days": _days(date, previous[0]) if previous else None,
                }
            )
            if not shows or shows[-1] != index:
                shows.append(index)
            previous = (date, index)
        gaps = [play["gap_shows"] for play in plays if play["gap_shows"] is not None]
        first, last = (plays[0]["date"], plays[-1]["date"]) if plays else (None, None)
        return {
            "song_id": p["song_id"],
            "song_title": song["title"],
            "total_plays": len(plays),
            "shows_played": len(shows),
            "debut_date": first,
            "last_played": last,
            "days_since_played": _days(as_of, last) if last else None,
            "shows_since_played": total_shows - shows[-1] - 1 if shows else None,
            "average_gap_days": _avg(_days(last, first), len(plays) - 1) if last and first else None,
            "average_gap_shows": _avg(shows[-1] - shows[0], len(shows) - 1) if shows else None,
            "longest_gap_shows": max(gaps) if gaps else None,
            "plays": plays,
        }

    async def setlist(self, p: dict[str, Any], gen: int) -> dict[str, Any]:
        result = await self._read(
            "setlist",
            p["band"],
            gen,
            [p["show_id"], p["as_of"].isoformat()],
            [keys.show_key(p["band"], p["show_id"], gen)],
        )
        if not result:
            raise QueryError("not_found", "Show not found", "show_id")
        show_raw, rows = result
        show = _record(show_raw)
        details = _details(show)
        performances = []
        for position, slot_raw, song_raw, is_play, previous, gap_shows in rows:
            _, set_label, song_id, counts, transition, reprise, footnote = _json.decode(slot_raw)
            song = _record(song_raw)
            performances.append(
                {
                    "position": position,
                    "set": set_label,
                    "song_id": song_id,
                    "song_title": song.get("title"),
                    "song_slug": song.get("slug"),
                    "transition": transition or None,
                    "is_reprise": bool(reprise),
                    "footnote": footnote or None,
                    "counts_for_stats": bool(counts),
                    "gap_shows": gap_shows if previous else None,
                    "gap_days": _days(show["date"], _date(previous)) if previous else None,
                    "is_debut": bool(is_play) and not previous,
                    "is_bustout": bool(previous) and gap_shows >= 101,
                }
            )
        return {
            "band": p["band"],
            "show_id": p["show_id"],
            "date": show["date"],
            "show_order": show["ord"],
            "slug": details.get("slug"),
            "venue": details.get("venue"),
            "city": details.get("city"),
            "state": details.get("state"),
            "country": details.get("country"),
            "tour": details.get("tour"),
            "counts_for_stats": show["counts"],
            "performances": performances,
        }

    async def bands(self, p: dict[str, Any], gen: int, stamps: Sequence[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Every band's row (``stamps``: each band with its change stamp): the rows of the bands
        unchanged since they were last read come from memory, the others' summaries are read
        in one round trip."""
        as_of = p["as_of"]
        row_keys = [(gen, band, stamp, as_of) for band, stamp in stamps]
        rows = {key: row for key in row_keys if (row := self._band_rows.get(key)) is not None}
        missing = [key for key in row_keys if key not in rows]

        async def queue(pipe: Pipeline) -> None:
            for _, band, _, _ in missing:
                await self._summary(band, gen, as_of, client=pipe)

        summaries = await self.scripts.pipelined(queue) if missing else []
        for summary in summaries:
            if isinstance(summary, Exception):
                raise summary
        for key, (name, shows, plays, _, _, first, last) in zip(missing, summaries, strict=True):
            band = key[1]
            rows[key] = {
                "band": band,
                "band_name": _band_name(name, band),
                "total_shows": shows,
                "total_performances": plays,
                "first_show": _date(first) if first else None,
                "last_show": _date(last) if last else None,
            }
        # kept (again: another computation may have let some go meanwhile), the most recent last
        for key in row_keys:
            self._band_rows[key] = rows[key]
            self._band_rows.move_to_end(key)
        while len(self._band_rows) > self._cache_size:
            self._band_rows.popitem(last=False)
        return [rows[key] for key in row_keys]
