"""Comparing every query of the service with the reference, on one history."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from urllib.parse import quote

import httpx
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.contract import QUERIES
from projections.queries import Queries


class OverHttp:
    """The queries asked over HTTP, at their ``/analytics/...`` paths (``Queries.answer``'s
    signature, so that every comparison below runs over HTTP as well)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def answer(self, name: str, params: dict[str, Any]) -> Any:
        query = QUERIES[name]
        rest = {k: v for k, v in params.items() if f"{{{k}}}" not in query.path}
        path = query.path.format(**{k: quote(str(v), safe="") for k, v in params.items() if k not in rest})
        response = await self.client.get(f"/analytics/{path}", params=rest)
        assert response.status_code == 200, (name, params, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json" and response.headers["etag"]
        return response.json()


async def assert_same(queries: Queries | OverHttp, name: str, ours_params: dict[str, Any], expected: Any) -> None:
    ours = await queries.answer(name, ours_params)
    if ours != expected:
        detail = _first_difference(ours, expected)
        raise AssertionError(f"{name} {ours_params}: {detail}")


def _first_difference(a: Any, b: Any, path: str = "$") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k, "<absent>") != b.get(k, "<absent>"):
                return _first_difference(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path}: {len(a)} items, expected {len(b)}"
    return f"{path}: got {a!r}, expected {b!r}"


async def compare_aggregates(
    queries: Queries | OverHttp, ref: Reference, band: str, as_of: str, all_bands: bool = True
) -> None:
    """Every list and summary query, with several parameter sets (``bands`` if the reference
    holds every band the service knows)."""
    # small limits: the rows cut off inside ties, the songs played again after as_of pruned
    # min_plays 4 and 5: either side of the index of regulars (keys.REGULAR_PLAYS)
    for min_plays, limit in ((0, 200), (5, 200), (40, 200), (0, 3), (4, 7), (5, 7)):
        for sort in ("days", "shows"):
            params = {"min_plays": min_plays, "limit": limit, "sort": sort}
            await assert_same(
                queries, "gaps", {"band": band, "as_of": as_of, **params}, ref.gaps(band, as_of, **params)
            )
    await assert_same(queries, "gaps", {"band": band, "as_of": as_of}, ref.gaps(band, as_of))
    for limit in (2, 50, 200):
        await assert_same(
            queries, "velocity", {"band": band, "as_of": as_of, "limit": limit}, ref.velocity(band, as_of, limit)
        )
    for period in ("month", "quarter", "year"):
        await assert_same(
            queries, "trends", {"band": band, "as_of": as_of, "period": period}, ref.trends(band, as_of, period)
        )
    await assert_same(queries, "stats", {"band": band, "as_of": as_of}, ref.stats(band, as_of))
    for days, unit, threshold in (
        (365, "days", None),
        (365, "days", 30),  # under the 180 days of the index of long stretches
        (4000, "days", 90),
        (100000, "shows", None),
        (3000, "shows", 20),
    ):
        params: dict[str, Any] = {"days": days, "unit": unit}
        if threshold is not None:
            params["gap_threshold"] = threshold
        await assert_same(
            queries,
            "bustouts",
            {"band": band, "as_of": as_of, **params},
            ref.bustouts(band, as_of, days, threshold, unit),
        )
    for days in (0, 365, 100000):
        await assert_same(
            queries, "debuts", {"band": band, "as_of": as_of, "days": days}, ref.debuts(band, as_of, days)
        )
    if all_bands:
        await assert_same(queries, "bands", {"as_of": as_of}, ref.bands_(as_of))


async def compare_details(queries: Queries | OverHttp, ref: Reference, band: str, as_of: str) -> None:
    """The song query for every song and the setlist query for every show."""
    b = ref.bands[band]
    for song_id in sorted(b.titles):
        await assert_same(
            queries, "song", {"band": band, "song_id": song_id, "as_of": as_of}, ref.song(band, song_id, as_of)
        )
    for show_id in sorted(b.shows):
        expected = ref.setlist(band, show_id, as_of)
        if expected is None:
            continue
        await assert_same(queries, "setlist", {"band": band, "show_id": show_id, "as_of": as_of}, expected)


async def assert_indexes(redis: Redis, band: str) -> None:
    """The band's indexes built for gaps (see projections/keys.py) hold exactly what its songs'
    packed plays say: ``hiatuses``, each play followed by the song's next one ``HIATUS_DAYS``
    or more days later, scored by its year and that next play's day; ``regulars``, each song
    with ``REGULAR_PLAYS`` plays or more, scored by its last play's day and show order."""
    stretches: dict[str, float] = {}
    regulars: dict[str, float] = {}
    for field, packed in (await redis.hgetall(keys.band_key(band, "plays"))).items():
        song = field.decode()
        plays = packed.decode().splitlines()
        for play, after in itertools.pairwise(plays):
            day = dt.date.fromisoformat(after[:10]).toordinal()
            if day - dt.date.fromisoformat(play[:10]).toordinal() >= keys.HIATUS_DAYS:
                date, order, show, _, _, n = play.split(" ")
                stretches[f"{song} {date} {order} {show} {n}"] = int(date[:4]) * 10**7 + day
        if len(plays) >= keys.REGULAR_PLAYS:
            date, order = plays[-1].split(" ")[:2]
            regulars[song] = dt.date.fromisoformat(date).toordinal() * 10**6 + int(order)
    stored = await redis.zrange(keys.band_key(band, "hiatuses"), 0, -1, withscores=True)
    assert {member.decode(): score for member, score in stored} == stretches, band
    stored = await redis.zrange(keys.band_key(band, "regulars"), 0, -1, withscores=True)
    assert {member.decode(): score for member, score in stored} == regulars, band


async def check_reference(
    queries: Queries, events: list[dict[str, Any]], band: str = "band", also: tuple[str, ...] = ()
) -> Reference:
    """The reference agrees on every query as of three dates (and those ``also`` given)."""
    ref = Reference(events)
    for as_of in ("1999-01-01", "2005-06-01", "2030-01-01", *also):
        await compare_aggregates(queries, ref, band, as_of)
        await compare_details(queries, ref, band, as_of)
    return ref
