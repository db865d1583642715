"""The benchmark's live phases: how soon a live play is visible (published by XADD or through
the write-through, idle or beside a backfill), questions asked during a backfill and right
after a play."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_common import QUERIES, summary
from redis.asyncio import Redis

from projections import keys
from service.client import StatsClient
from service.ingest import publish, wait_settled


async def asked_during_a_backfill(
    url: str, redis: Redis, backfill: Sequence[dict[str, Any]], as_of: str, band: str = "asked-during"
) -> dict[str, Any]:
    """`song` (the Phish song of the latency runs, cached) asked again and again from one
    client while ``backfill`` (under a band name of its own) is published and applied by the
    same `serve`, no write-through in use: the answers' p50/p99 and the backfill's rate (the
    consumer gives way to the questions: ``pace_served_window``, service/pacing.py)."""
    song = next(p for q, p in QUERIES if q == "song")
    events = [json.dumps({**e, "band": band}) for e in backfill]
    times: list[float] = []
    async with StatsClient(url, timeout=30) as client:
        for _ in range(3):
            await client.query("song", band="phish", as_of=as_of, **song)
        started = time.perf_counter()
        settling = asyncio.ensure_future(wait_settled(redis, await publish(redis, events), timeout=3600))
        while not settling.done():
            t = time.perf_counter()
            await client.query("song", band="phish", as_of=as_of, **song)
            times.append((time.perf_counter() - t) * 1000)
        await settling
        elapsed = time.perf_counter() - started
    return {
        "song": summary(times),
        "backfill_events": len(events),
        "backfill_events_per_s": round(len(events) / elapsed),
    }


def _backfill_process(
    url: str,
    backfill: list[dict[str, Any]],
    tag: str,
    published: Any,
    cpu_share: Any,
    stop: Any,
    rate: int | None = None,
) -> None:
    """Another ingest system: publishes ``backfill`` again and again (under fresh band names)
    until ``stop`` is set, counting into ``published``: as fast as it can in pipelines of
    5,000 events, or ``rate`` events a second in 50 pipelines a second. ``cpu_share``: the
    share of a core it used meanwhile."""

    async def main() -> None:
        redis = Redis.from_url(url)
        step = 5000 if rate is None else max(1, rate // 50)
        started, sent, round_ = time.perf_counter(), 0, 0
        while not stop.is_set():
            round_ += 1
            chunk = [json.dumps({**e, "band": f"{e['band']}-{tag}-{round_}"}) for e in backfill]
            for i in range(0, len(chunk), step):
                if stop.is_set():
                    break
                await publish(redis, chunk[i : i + step])
                sent += len(chunk[i : i + step])
                with published.get_lock():
                    published.value += len(chunk[i : i + step])
                if rate is not None and (ahead := sent / rate - (time.perf_counter() - started)) > 0:
                    await asyncio.sleep(ahead)
        cpu_share.value = time.process_time() / (time.perf_counter() - started)
        await redis.aclose()

    asyncio.run(main())


def _ping_process(url: str, out: Any, stop: Any) -> None:
    """The floor: a Redis PING every 5 ms from a process of its own, until ``stop`` is set."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(url)
    times = []
    while not stop.is_set():
        t = time.perf_counter()
        client.ping()
        times.append((time.perf_counter() - t) * 1000)
        time.sleep(0.005)
    out.put(times)


#: The live shows of the visibility measurement: a setlist of this many songs, then a new show.
LIVE_SETLIST = 20


def live_songs(phish: list[dict[str, Any]], seed: int = 11) -> list[tuple[str, str]]:
    """The rotation the live shows draw on: Phish songs with 30 to 60 plays (the song asked
    about in the latency runs has 46), ``(song_id, title)``."""
    plays = Counter(e["song_id"] for e in phish if e["type"] == "PerformanceAdded")
    titles = {e["song_id"]: e["song_title"] for e in phish if e["type"] == "PerformanceAdded"}
    return random.Random(seed).sample(sorted((s, titles[s]) for s, n in plays.items() if 30 <= n <= 60), 40)


async def live_visibility(
    url: str,
    redis: Redis,
    count: int,
    show: str,
    songs: list[tuple[str, str]],
    backfill: list[dict[str, Any]] | None = None,
    write_through: bool = False,
    rate: int | None = None,
) -> dict[str, Any]:
    """Live shows of Phish (``LIVE_SETLIST`` songs drawn from ``songs``, then the next show,
    a day later): publish each PerformanceAdded, then ask `song` about that song until its
    answer counts the play. Published by XADD to the stream, or with ``write_through``
    through the service's write-through publish. With a backfill: another process publishes
    the backfill's events again and again (under fresh band names) for as long as the
    measurement runs, as fast as it can or ``rate`` events a second; it stops after
    ``count`` samples or 30 seconds. Meanwhile a process of its own sends a Redis PING every
    5 ms: the floor, one round trip under the same load (a visibility takes four or more)."""
    context = multiprocessing.get_context("spawn")
    published, cpu_share, stop = context.Value("q", 0), context.Value("d", 0.0), context.Event()
    publisher = context.Process(
        target=_backfill_process, args=(url, backfill or [], show, published, cpu_share, stop, rate)
    )
    pings: Any = context.Queue()
    pinger = context.Process(target=_ping_process, args=(url, pings, stop))
    rng = random.Random(5)
    times = []
    async with StatsClient(url, timeout=30) as client:

        async def send(event: dict[str, Any]) -> None:
            if write_through:
                await client.publish(event)
            else:
                await redis.xadd(keys.EVENTS_STREAM, {"__data__": json.dumps(event)})

        async def plays(song_id: str) -> int:
            answer = await client.song("phish", song_id, as_of="2025-12-31")
            return answer.total_plays

        expected = {song_id: await plays(song_id) for song_id, _ in songs}
        if backfill:
            publisher.start()
        pinger.start()
        await asyncio.sleep(1.0)
        deadline = time.perf_counter() + 30
        setlist: list[tuple[str, str]] = []
        for i in range(count):
            if time.perf_counter() > deadline:
                break
            show_id = f"{show}-{i // LIVE_SETLIST}"
            if i % LIVE_SETLIST == 0:
                date = dt.date(2025, 7, 1) + dt.timedelta(days=i // LIVE_SETLIST)
                await send(
                    {
                        "type": "ShowRecorded",
                        "event_id": show_id,
                        "band": "phish",
                        "show_id": show_id,
                        "date": str(date),
                    }
                )
                setlist = rng.sample(songs, LIVE_SETLIST)
            song_id, title = setlist[i % LIVE_SETLIST]
            event = {
                "type": "PerformanceAdded",
                "event_id": f"{show_id}-{i}",
                "band": "phish",
                "show_id": show_id,
                "position": i % LIVE_SETLIST + 1,
                "set": "1",
                "song_id": song_id,
                "song_title": title,
            }
            expected[song_id] += 1
            t = time.perf_counter()
            await send(event)
            while await plays(song_id) < expected[song_id] and time.perf_counter() < deadline + 60:
                pass
            times.append((time.perf_counter() - t) * 1000)
    stop.set()
    floor = pings.get(timeout=60)
    pinger.join(60)
    if backfill:
        publisher.join(60)
    backlog = (await redis.xinfo_groups(keys.EVENTS_STREAM))[0].get("lag")
    return {
        **summary(times),
        "redis_ping": summary(floor) if floor else {},
        "backfill_events_per_s": rate or ("flood" if backfill else 0),
        "backfill_events_published": published.value,
        "backfill_cpu_share": round(cpu_share.value, 2),
        "backlog_at_end": backlog,
    }


#: Seconds between a play published during a show and the questions asked about it, in
#: ``asked_after_a_play`` (the service answers them again ``refresh_delay`` after).
ASKED_AFTER = 0.5


async def asked_after_a_play(url: str, count: int, songs: list[tuple[str, str]]) -> dict[str, Any]:
    """A live show of Phish published through the write-through, and after each play, a
    moment later (``ASKED_AFTER``), the questions fans ask about it: gaps, velocity and
    bustouts as of the show's day, each asked once before the show. Each answer has changed
    since it was last asked; the service has answered it again in the meantime. The control
    (``unchanged``): the same questions after the same pause with nothing published, every
    answer cached (on this kind of machine the first request after a pause is slower)."""
    questions: list[tuple[str, dict[str, Any]]] = [("gaps", {}), ("velocity", {}), ("bustouts", {})]
    times: dict[str, dict[str, list[float]]] = {"after_a_play": {}, "unchanged": {}}
    show_id, date = "asked-after", "2025-08-01"
    async with StatsClient(url, timeout=30) as client:

        async def ask(label: str) -> None:
            await asyncio.sleep(ASKED_AFTER)
            for name, params in questions:
                t = time.perf_counter()
                await client.query(name, band="phish", as_of=date, **params)
                times[label].setdefault(name, []).append((time.perf_counter() - t) * 1000)

        await client.publish(
            {"type": "ShowRecorded", "event_id": show_id, "band": "phish", "show_id": show_id, "date": date}
        )
        for name, params in questions:
            await client.query(name, band="phish", as_of=date, **params)
        for i, (song_id, title) in enumerate(random.Random(7).sample(songs, count)):
            await client.publish(
                {
                    "type": "PerformanceAdded",
                    "event_id": f"{show_id}-{i}",
                    "band": "phish",
                    "show_id": show_id,
                    "position": i + 1,
                    "set": "1",
                    "song_id": song_id,
                    "song_title": title,
                }
            )
            await ask("after_a_play")
            await ask("unchanged")
    return {label: {name: summary(t) for name, t in by_name.items()} for label, by_name in times.items()}
