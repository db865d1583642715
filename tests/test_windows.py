"""The windowed queries (velocity, trends, debuts, bustouts) follow as_of and the wall clock,
and forget plays removed, uncounted or moved out of the window."""

from __future__ import annotations

from compare import check_reference
from conftest import ingest
from factory import perf, perf_removed, show
from redis.asyncio import Redis

from projections.queries import Queries

AS_OF = "2030-01-01"


async def test_windows_forget_plays_removed_uncounted_or_moved_out(redis: Redis, service: Queries) -> None:
    """The windows of velocity and bustouts read each show's setlist: a show whose only
    performance was removed, a show no longer counted and a show moved out of the window
    leave nothing behind there."""
    played = [
        show("s1", "2001-01-01"),
        perf("s1", 1, "a"),
        show("s2", "2001-02-01"),
        perf("s2", 1, "b"),
        show("s3", "2001-02-15"),
        perf("s3", 1, "c"),
        show("s4", "2001-02-20"),
        perf("s4", 1, "a"),
    ]
    corrections = [perf_removed("s2", 1), show("s3", "2001-02-15", counts_for_stats=False), show("s4", "1999-01-01")]
    events = played + corrections
    await ingest(redis, played)
    await ingest(redis, corrections)
    velocity = await service.answer("velocity", {"band": "band", "as_of": "2001-03-01"})
    assert [(v["song_id"], v["plays_last_year"], v["total_plays"]) for v in velocity] == [("a", 1, 2)]
    bustouts = await service.answer("bustouts", {"band": "band", "as_of": "2001-03-01", "gap_threshold": 0})
    assert [(b["song_id"], b["show_id"], b["gap_days"], b["gap_shows"]) for b in bustouts["bustouts"]] == [
        ("a", "s1", 731, 1)
    ]
    await check_reference(service, events, also=("2001-03-01",))


async def test_windows_follow_as_of(redis: Redis, service: Queries) -> None:
    events = [
        show("s1", "2000-01-01"),
        perf("s1", 1, "a"),
        show("s2", "2001-03-01"),
        perf("s2", 1, "a"),
        perf("s2", 2, "new"),
    ]
    await ingest(redis, events)
    v = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band", "as_of": "2001-03-31"})}
    assert (v["a"]["plays_last_30_days"], v["a"]["plays_last_year"], v["a"]["velocity_score"]) == (1, 1, 6.0)
    v = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band", "as_of": "2001-04-01"})}
    assert (v["a"]["plays_last_30_days"], v["a"]["plays_last_90_days"], v["a"]["velocity_score"]) == (0, 1, 3.0)
    v = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band", "as_of": "2001-05-30"})}
    assert (v["a"]["plays_last_30_days"], v["a"]["plays_last_90_days"], v["a"]["plays_last_year"]) == (0, 1, 1)
    v = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band", "as_of": "2001-05-31"})}
    assert (v["a"]["plays_last_90_days"], v["a"]["plays_last_year"]) == (0, 1)
    v = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band", "as_of": "2002-03-01"})}
    assert (v["a"]["plays_last_year"], v["a"]["velocity_score"], v["a"]["total_plays"]) == (1, 1.0, 2)
    v = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band", "as_of": "2002-03-02"})}
    assert (v["a"]["plays_last_year"], v["a"]["velocity_score"]) == (0, 0.0)
    b = await service.answer("bustouts", {"band": "band", "as_of": "2001-03-01", "days": 0})
    assert [(r["song_id"], r["gap_days"], r["gap_shows"], r["previous_play"]) for r in b["bustouts"]] == [
        ("a", 425, 1, "2000-01-01")
    ]
    assert (await service.answer("bustouts", {"band": "band", "as_of": "2001-03-02", "days": 0}))["bustouts"] == []
    d = await service.answer("debuts", {"band": "band", "as_of": "2002-02-28"})
    assert [r["song_id"] for r in d["debuts"]] == ["new"]
    assert (await service.answer("debuts", {"band": "band", "as_of": "2002-03-02"}))["debuts"] == []
    await check_reference(service, events)


async def test_windows_age_with_the_wall_clock(redis: Redis, service: Queries) -> None:
    """No as_of: the windows end today, and move with the clock with no new events."""
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    played = (today - dt.timedelta(days=29)).isoformat()
    await ingest(
        redis, [show("old", "2001-01-01"), perf("old", 1, "a"), show("recent", played), perf("recent", 1, "a")]
    )
    now = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band"})}
    assert (now["a"]["plays_last_30_days"], now["a"]["plays_last_90_days"]) == (1, 1)
    later = today + dt.timedelta(days=2)
    aged = {r["song_id"]: r for r in await service.answer("velocity", {"band": "band"}, today=later)}
    assert (aged["a"]["plays_last_30_days"], aged["a"]["plays_last_90_days"]) == (0, 1)
    bustouts = await service.answer("bustouts", {"band": "band", "days": 30})
    assert [b["bustout_date"] for b in bustouts["bustouts"]] == [played]
    assert (await service.answer("bustouts", {"band": "band", "days": 30}, today=later))["bustouts"] == []
    assert [d["song_id"] for d in (await service.answer("debuts", {"band": "band", "days": 30}))["debuts"]] == []
    gaps = await service.answer("gaps", {"band": "band", "min_plays": 1}, today=later)
    assert gaps[0]["days_since_played"] == 31
