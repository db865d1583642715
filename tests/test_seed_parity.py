"""The six seed paths over HTTP against the seed router itself (../shared/seed, in a FastAPI
app as it was deployed) on the same plays, with the same parameters.

Compared at an ``as_of`` after the last show (the seed has no ``as_of``: it counts every show),
with the contract's deliberate differences applied to the seed's answers: string song ids,
``average_gap_days`` 0.0 where the seed nulled it, and ties ordered by title then id.
"""

from __future__ import annotations

from typing import Any

import datasets
import httpx
import pytest
import seed_baseline
from compare import OverHttp
from conftest import ingest, shared_data
from redis.asyncio import Redis
from reference import Reference

pytestmark = pytest.mark.slow
AS_OF = "2026-01-01"
HUGE = 1_000_000


def _tie_order(rows: list[dict[str, Any]], key: str, reverse: bool = True) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: (r["song_title"], r.get("song_id", "")))
    return sorted(rows, key=lambda r: r[key], reverse=reverse)


def _seed_rows(rows: list[dict[str, Any]], ids: dict[int, str]) -> list[dict[str, Any]]:
    for row in rows:
        row["song_id"] = ids[row["song_id"]]
    return rows


def _ours_as_seed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our gaps rows as the seed's: our extra fields left out, an exact 0.0 nulled."""
    out = [{k: v for k, v in r.items() if k not in ("shows_since_played", "average_gap_shows")} for r in rows]
    for row in out:
        if row.get("average_gap_days") == 0.0:
            row["average_gap_days"] = None
    return out


def _same_up_to_ties(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], key: str, full: Any) -> None:
    """The same rows in the same order (ties by title then id), where a cut at the limit may
    fall inside a tie: there, each of ours is one of the tie, as the reference has it (``full``:
    every row by song; the seed's rows past its cut are not to be had over HTTP)."""
    assert [r[key] for r in ours] == [r[key] for r in theirs]
    cut = theirs[-1][key] if len(theirs) == 200 else object()
    assert [r for r in ours if r[key] != cut] == _tie_order([r for r in theirs if r[key] != cut], key)
    assert all(r == full[r["song_id"]] for r in ours if r[key] == cut)


@pytest.mark.parametrize("name", ["goose", "phish", "grateful-dead"])
async def test_the_seed_paths_over_http_answer_as_the_seed_router(
    name: str, redis: Redis, http: httpx.AsyncClient
) -> None:
    shared_data(datasets.FOLDERS[name])
    if why := seed_baseline.available():
        pytest.skip(why)
    events = list(datasets.DATASETS[name]())
    await ingest(redis, events)
    ref = Reference(events)
    seed = seed_baseline.Seed(ref, name)
    ours = OverHttp(http)
    async with seed.http() as client:

        async def theirs(path: str, **params: Any) -> Any:
            return await seed.get(client, f"/analytics/{path}/{name}", AS_OF, **params)

        gaps = _seed_rows(await theirs("gaps", min_plays=5, limit=200), seed.song_ids)
        full = {r["song_id"]: r for r in _ours_as_seed(ref.gaps(name, AS_OF, min_plays=5, limit=HUGE))}
        got = _ours_as_seed(await ours.answer("gaps", {"band": name, "as_of": AS_OF, "min_plays": 5, "limit": 200}))
        _same_up_to_ties(got, gaps, "days_since_played", full)

        velocity = _seed_rows(await theirs("velocity", limit=200), seed.song_ids)
        full = {r["song_id"]: r for r in ref.velocity(name, AS_OF, limit=HUGE)}
        got = await ours.answer("velocity", {"band": name, "as_of": AS_OF, "limit": 200})
        _same_up_to_ties(got, velocity, "velocity_score", full)

        for period in ("month", "quarter"):
            assert await ours.answer("trends", {"band": name, "as_of": AS_OF, "period": period}) == await theirs(
                "trends", period=period
            )

        expected = await theirs("stats")
        got = await ours.answer("stats", {"band": name, "as_of": AS_OF})
        assert got.pop("vertical_id") == name and isinstance(expected.pop("vertical_id"), int)
        assert got == expected

        for days, threshold in ((365, 180), (3650, 90), (20000, 1000)):
            expected = await theirs("bustouts", days=days, gap_threshold=threshold)
            got = await ours.answer(
                "bustouts", {"band": name, "as_of": AS_OF, "days": days, "gap_threshold": threshold}
            )
            for row in got["bustouts"]:
                for extra in ("song_id", "show_id", "gap_shows"):
                    del row[extra]
            key = lambda r: (-r["gap_days"], r["song_title"], r["bustout_date"])  # noqa: E731
            assert sorted(got["bustouts"], key=key) == sorted(expected["bustouts"], key=key)
            assert [r["gap_days"] for r in got["bustouts"]] == [r["gap_days"] for r in expected["bustouts"]]
            assert {k: v for k, v in got.items() if k != "bustouts"} == {
                k: v for k, v in expected.items() if k != "bustouts"
            }

        for days in (365, 3650):
            expected = await theirs("debut-songs", days=days)
            got = await ours.answer("debuts", {"band": name, "as_of": AS_OF, "days": days})
            for row in got["debuts"]:
                del row["song_id"], row["show_id"]
            key = lambda r: (r["debut_date"], r["song_title"])  # noqa: E731
            assert sorted(got["debuts"], key=key) == sorted(expected["debuts"], key=key)
            assert [r["debut_date"] for r in got["debuts"]] == [r["debut_date"] for r in expected["debuts"]]
            assert got["vertical"] == expected["vertical"] and got["period_days"] == expected["period_days"]
