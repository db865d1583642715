"""The six seed queries against the seed router itself (../shared/seed) on the same plays.

Compared at an ``as_of`` after the last show (the seed has no ``as_of``: it counts every show),
with the contract's deliberate differences applied to the seed's answers: string song ids,
``average_gap_days`` 0.0 where the seed nulled it, and ties ordered by title then id.
"""

from __future__ import annotations

from typing import Any

import datasets
import pytest
import seed_baseline
from conftest import ingest, shared_data
from redis.asyncio import Redis
from reference import Reference

from projections.queries import Queries

pytestmark = pytest.mark.slow
AS_OF = "2026-01-01"
HUGE = 1_000_000


def _tie_order(rows: list[dict[str, Any]], key: str, reverse: bool = True) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: (r["song_title"], r.get("song_id", "")))
    return sorted(rows, key=lambda r: r[key], reverse=reverse)


@pytest.mark.parametrize("name", ["goose", "phish", "grateful-dead"])
async def test_seed_queries_match_the_seed_router(name: str, redis: Redis, service: Queries) -> None:
    shared_data(datasets.FOLDERS[name])
    if why := seed_baseline.available():
        pytest.skip(why)
    events = list(datasets.DATASETS[name]())
    await ingest(redis, events)
    ref = Reference(events)
    seed = seed_baseline.Seed(ref, name)
    ids = seed.song_ids

    def ours(query: str, **params: Any) -> Any:
        return service.answer(query, {"band": name, "as_of": AS_OF, **params})

    # gaps: every song (the seed's limit is only checked by FastAPI), our extra fields left out
    theirs = seed.call("gaps", AS_OF, vertical_slug=name, min_plays=5, limit=HUGE)
    for row in theirs:
        row["song_id"] = ids[row["song_id"]]
    expected = _tie_order(theirs, "days_since_played")
    got = [
        {k: v for k, v in r.items() if k not in ("shows_since_played", "average_gap_shows")}
        for r in await ours("gaps", min_plays=5, limit=200)
    ]
    for row in got:
        if row["average_gap_days"] == 0.0:
            row["average_gap_days"] = None  # the seed nulls an exact 0.0
    assert got == expected[:200]

    theirs = seed.call("velocity", AS_OF, vertical_slug=name, limit=HUGE)
    for row in theirs:
        row["song_id"] = ids[row["song_id"]]
    assert await ours("velocity", limit=200) == _tie_order(theirs, "velocity_score")[:200]

    for period in ("month", "quarter"):
        expected = seed.call("trends", AS_OF, vertical_slug=name, period=period)
        assert await ours("trends", period=period) == expected

    expected = seed.call("stats", AS_OF, vertical_slug=name)
    got = await ours("stats")
    assert got.pop("vertical_id") == name and isinstance(expected.pop("vertical_id"), int)
    assert got == expected

    for days, threshold in ((365, 180), (3650, 90), (20000, 1000)):
        expected = seed.call("bustouts", AS_OF, vertical_slug=name, days=days, gap_threshold=threshold)
        got = await ours("bustouts", days=days, gap_threshold=threshold)
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
        expected = seed.call("debuts", AS_OF, vertical_slug=name, days=days)
        got = await ours("debuts", days=days)
        for row in got["debuts"]:
            del row["song_id"], row["show_id"]
        key = lambda r: (r["debut_date"], r["song_title"])  # noqa: E731
        assert sorted(got["debuts"], key=key) == sorted(expected["debuts"], key=key)
        assert [r["debut_date"] for r in got["debuts"]] == [r["debut_date"] for r in expected["debuts"]]
