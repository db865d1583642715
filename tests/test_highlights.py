"""Highlights: a live show played event by event (each event sent twice, and through the
write-through too) pushes exactly its debut and its bustout, once each; a removal retracts;
a backfill pushes nothing; the highlights equal the reference's."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import ingest, settings_for_tests
from factory import perf, perf_removed, show
from redis.asyncio import Redis
from reference import Reference, highlights

from projections import keys
from projections.highlights import Highlight, HighlightRetracted, Pushed, decode
from service.app import running
from service.client import StatsClient

TODAY = "2025-06-01"


@pytest.fixture
async def live(redis: Redis, redis_url: str) -> AsyncIterator[str]:
    """The service running with TODAY as today."""
    async with running(settings_for_tests(highlight_today=TODAY), redis_url):
        yield redis_url


async def pushed(redis: Redis) -> list[Pushed]:
    return [decode(fields[b"__data__"]) for _, fields in await redis.xrange(keys.HIGHLIGHTS)]


def history(band: str = "band") -> list[dict[str, Any]]:
    """120 shows from 2025-01-01, a day apart: "old" at the first only, "common" at every
    third, "filler" at every one."""
    events = []
    day = dt.date(2025, 1, 1)
    for i in range(120):
        sid = f"s{i:03d}"
        events.append(show(sid, (day + dt.timedelta(days=i)).isoformat(), band=band))
        events.append(perf(sid, 1, "filler", band=band))
        if i == 0:
            events.append(perf(sid, 2, "old", band=band))
        if i % 3 == 0:
            events.append(perf(sid, 3, "common", band=band))
    return events


def tonight(band: str = "band") -> list[dict[str, Any]]:
    return [
        show("live", TODAY, band=band),
        perf("live", 1, "new", band=band),  # a debut
        perf("live", 2, "old", band=band),  # a bustout: 120 shows since its one play
        perf("live", 3, "common", band=band),  # nothing
    ]


async def test_a_live_show_pushes_its_debut_and_bustout_once_each(redis: Redis, live: str) -> None:
    backfill = history()
    await ingest(redis, backfill)
    assert await pushed(redis) == []  # a backfill of older shows pushes nothing
    async with StatsClient(live) as client:
        for event in tonight():
            await client.publish(event)  # the write-through applies it at once
            await ingest(redis, [event, event])  # and the same event twice more, through the stream
    got = await pushed(redis)
    assert all(isinstance(h, Highlight) for h in got)
    assert sorted((h.kind, h.song_id, h.position) for h in got) == [("bustout", "old", 2), ("debut", "new", 1)]
    bustout = next(h for h in got if h.kind == "bustout")
    assert (bustout.gap_shows, bustout.gap_days, bustout.previous_play, bustout.play_number) == (
        120,
        151,
        "2025-01-01",
        2,
    )
    assert bustout.id == "band:live:2:bustout" and bustout.date == TODAY and bustout.song_title == "Old"
    expected = highlights(Reference(backfill + tonight()), "band", "2025-05-30", "2025-06-03")
    assert {h.id for h in got} == set(expected)

    # the debut's play removed: retracted, with the same id; nothing else moves
    await ingest(redis, [perf_removed("live", 1)])
    after = await pushed(redis)
    assert len(after) == 3 and isinstance(after[-1], HighlightRetracted) and after[-1].id == "band:live:1:debut"
    # an earlier play of "old" added to a show of the window's days: the bustout no longer holds
    await ingest(redis, [show("eve", "2025-05-31"), perf("eve", 1, "old")])
    last = await pushed(redis)
    assert [(type(h).__name__, h.id) for h in last[3:]] == [
        ("HighlightRetracted", "band:live:2:bustout"),
        ("Highlight", "band:eve:1:bustout"),
    ]


async def test_a_show_outside_the_window_pushes_nothing(redis: Redis, live: str) -> None:
    old_tonight = [{**e, "date": "2025-05-20"} if e["type"] == "ShowRecorded" else e for e in tonight()]
    await ingest(redis, history() + old_tonight)
    assert await pushed(redis) == []
