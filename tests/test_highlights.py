"""Highlights: a live show played event by event (each event sent twice, and through the
write-through too) pushes exactly its debut and its bustout, once each; a removal retracts;
a backfill pushes nothing; the highlights equal the reference's."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TOKEN, ingest, serving_http, settings_for_tests
from factory import perf, perf_removed, show
from redis.asyncio import Redis
from reference import Reference
from reference_highlights import highlights

from projections import keys
from projections.highlights import Highlight, HighlightRetracted, Pushed, decode
from service.app import running
from service.client import StatsClient

TODAY = "2025-06-01"
CLI = [sys.executable, "-m", "service.cli"]
ROOT = Path(__file__).resolve().parents[1]


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


# -- over HTTP (Server-Sent Events) and the command line, from a real `serve --http` ------------


@pytest.fixture
def served_live(redis: Redis, redis_url: str) -> Iterator[str]:
    with serving_http(redis_url, CONSUMER_NAME="live-test", HIGHLIGHT_TODAY=TODAY) as (base, _):
        yield base


class Events:
    """A Server-Sent Events response, read an event at a time (comments skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, n: int, timeout: float) -> list[dict[str, str]]:
        events: list[dict[str, str]] = []
        current: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            while len(events) < n:
                line = await anext(self.lines)
                if not line:
                    if current:
                        events.append(current)
                    current = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    current[name] = value.removeprefix(" ")
        return events


async def test_live_over_sse_once_each_and_resumed_with_last_event_id(redis: Redis, served_live: str) -> None:
    await ingest(redis, history() + history("other"))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=served_live, timeout=30) as client:
        async with client.stream("GET", "/live/band") as band_stream, client.stream("GET", "/live") as all_stream:
            assert band_stream.headers["content-type"].startswith("text/event-stream")
            stream, every = Events(band_stream), Events(all_stream)
            for event in tonight("other"):  # another band's: not on /live/band, on /live
                assert (await client.post("/events", json=event, headers=headers)).status_code == 200
            seen = []
            for event in tonight():
                sent = time.perf_counter()
                response = await client.post("/events", json=[event, event], headers=headers)  # sent twice
                assert response.status_code == 200 and response.json()[0]["applied"]
                if event.get("song_id") in ("new", "old"):
                    [got] = await stream.next(1, timeout=1.0)  # within a second of the write-through
                    seen.append((got, time.perf_counter() - sent))
            assert [(e["event"], json.loads(e["data"])["kind"]) for e, _ in seen] == [
                ("highlight", "debut"),
                ("highlight", "bustout"),
            ]
            everyone = await every.next(4, timeout=2.0)
            assert sorted(json.loads(e["data"])["band"] for e in everyone) == ["band", "band", "other", "other"]
            await client.post("/events", json=perf_removed("live", 1), headers=headers)
            [retracted] = await stream.next(1, timeout=1.0)
            assert retracted["event"] == "retracted", retracted
            assert json.loads(retracted["data"])["id"] == "band:live:1:debut"
        # reconnecting after the debut: the bustout and the retraction, nothing twice
        first_id = seen[0][0]["id"]
        async with client.stream("GET", "/live/band", headers={"Last-Event-ID": first_id}) as again:
            missed = await Events(again).next(2, timeout=2.0)
            assert [e["event"] for e in missed] == ["highlight", "retracted"]
            assert [json.loads(e["data"])["kind"] for e in missed] == ["bustout", "debut"]
    entries = await redis.xrange(keys.HIGHLIGHTS)
    assert len(entries) == 5  # two bands' debut and bustout, one retraction: nothing twice


async def test_the_command_prints_them_and_follows(redis: Redis, live: str) -> None:
    await ingest(redis, history())
    env = {**{k: v for k, v in os.environ.items() if k != "REDIS_URL"}, "REDIS_URL": live}
    follower = subprocess.Popen(
        [*CLI, "highlights", "--band", "band", "--follow"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.5)  # following
        await ingest(redis, tonight())
        assert follower.stdout is not None
        lines = [follower.stdout.readline(), follower.stdout.readline()]
    finally:
        follower.terminate()
        follower.communicate(timeout=10)
    assert "DEBUT: New - first time played" in lines[0]
    assert "BUSTOUT: Old - first in 120 shows, 151 days (last 2025-01-01)" in lines[1]
    printed = subprocess.run(
        [*CLI, "highlights", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert [json.loads(line)["kind"] for line in printed.stdout.splitlines()] == ["debut", "bustout"]


async def test_serve_stops_promptly_with_a_follower_connected(redis: Redis, redis_url: str) -> None:
    """A dashboard left open (its event stream) does not hold `serve --http` on SIGTERM."""
    with serving_http(redis_url, CONSUMER_NAME="stop-test") as (base, server):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client, client.stream("GET", "/live") as stream:
            assert stream.status_code == 200
            started = time.perf_counter()
            server.terminate()
            await asyncio.to_thread(server.wait, 20)
            assert time.perf_counter() - started < 4, "serve waited for the open event stream"


async def test_a_rebuild_pushes_nothing_and_nothing_is_pushed_again_after_it(redis: Redis, live: str) -> None:
    from service.rebuild import rebuild

    await ingest(redis, history() + tonight())
    before = await pushed(redis)
    assert sorted(h.kind for h in before) == ["bustout", "debut"]
    await rebuild(redis, grace=0)
    await ingest(redis, [perf("live", 4, "filler")])  # an apply on the new generation
    assert await pushed(redis) == before
