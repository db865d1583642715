"""The benchmark: ingest, the raw ceiling, query latency (and questions asked during a
backfill), the seed router, live visibility (under a paced backfill and a flood, with the
flood's floor; and the questions asked a moment after a play), memory and scale (per-band
answers asked in turn with Phish's), in one seeded run.
Results go to bench-results/<time>.json and a row is appended to docs/benchmarks.csv (with
versions and host).

    .venv/bin/python tests/benchmark.py            # the full run (about ten minutes)
    .venv/bin/python tests/benchmark.py --quick    # a smaller run, for a quick look

Needs ../shared/data (the real histories); the seed baseline also needs ../shared/seed.
Latencies are medians and 99th percentiles over many requests; this machine is shared, so
compare ratios within one run rather than absolute figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import multiprocessing
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_http
import datasets
from conftest import wait_ready
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.batch import apply_entries
from projections.scripts import Scripts
from service.app import ensure_group
from service.cli import freeze_heap
from service.client import StatsClient
from service.config import Settings
from service.embedded import RedisServer
from service.ingest import publish, wait_settled

ROOT = Path(__file__).resolve().parents[1]
HISTORICAL = "2010-06-01"
#: Events a second of the paced backfill beside live shows (the other backfill floods).
PACED_BACKFILL = 5_000
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("gaps", {}),
    ("velocity", {}),
    ("trends", {}),
    ("stats", {}),
    ("bustouts", {}),
    ("bustouts", {"unit": "shows"}),
    ("debuts", {}),
    ("song", {"song_id": "486"}),
    ("setlist", {"show_id": "SHOW"}),
    ("bands", {}),
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(pct(ms, 0.99), 3), "n": len(ms)}


class Consumer:
    """A `setlist-stats serve` process (the consumer and the query handlers)."""

    def __init__(self, url: str, name: str = "bench", role: str = "all", nice: int = 0) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(REDIS_URL=url, CONSUMER_NAME=name, LOG_LEVEL="WARNING", SERVE_ROLE=role, NICE=str(nice))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


async def ready(url: str) -> None:
    """Wait until the query handlers answer (a request sent before they subscribe is lost),
    then for ``pace_served_window``: what follows finds a consumer that no longer gives way to
    that question."""
    async with StatsClient(url, timeout=0.5) as client:
        for _ in range(120):
            try:
                await client.bands()
                await asyncio.sleep(Settings.load().pace_served_window)
                return
            except TimeoutError:
                continue
    raise RuntimeError("the service did not start")


def lines(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(e) for e in events]


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def bench_ingest(server: RedisServer, redis: Redis, events: list[str]) -> dict[str, Any]:
    """End to end (publish while the consumer applies), the consumer draining a backlog, and the
    raw ceiling (the same scripts from one process, no FastStream) on the same events."""
    out: dict[str, Any] = {"events": len(events)}
    await redis.flushall()
    consumer = Consumer(server.url)
    await ready(server.url)
    started = time.perf_counter()
    ids = await publish(redis, events)
    await wait_settled(redis, ids, timeout=3600)
    out["end_to_end_events_per_s"] = round(len(events) / (time.perf_counter() - started))
    consumer.stop()

    await redis.flushall()
    await ensure_group(redis)
    ids = await publish(redis, events)
    before = await used_memory(redis)
    scripts = Scripts(redis)
    batch = Settings.load().batch_size  # the consumer's batch size
    started = time.perf_counter()
    while True:
        read = await redis.xreadgroup(keys.CONSUMER_GROUP, "raw", {keys.EVENTS_STREAM: ">"}, count=batch)
        if not read:
            break
        entries = [(i.decode(), f) for i, f in read[0][1]]
        outcome = await apply_entries(scripts, entries)
        await redis.xack(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, *outcome.done)
    out["raw_ceiling_events_per_s"] = round(len(events) / (time.perf_counter() - started))
    out["projection_bytes"] = await used_memory(redis) - before

    await redis.flushall()
    ids = await publish(redis, events)
    consumer = Consumer(server.url)
    started = time.perf_counter()
    await wait_settled(redis, ids, timeout=3600)
    out["consumer_drain_events_per_s"] = round(len(events) / (time.perf_counter() - started))
    out["end_to_end_fraction_of_raw"] = round(out["end_to_end_events_per_s"] / out["raw_ceiling_events_per_s"], 3)
    out["drain_fraction_of_raw"] = round(out["consumer_drain_events_per_s"] / out["raw_ceiling_events_per_s"], 3)
    consumer.stop()
    return out


async def bench_backfill_behind(redis: Redis, events: list[dict[str, Any]], years: int = 3) -> dict[str, Any]:
    """A backfill behind recent history: each band's last ``years`` years applied first (the
    same scripts as the raw ceiling, no FastStream), then the rest of its history, timed: every
    play of it comes before plays already stored (an importer loading decades of history after
    the band went live)."""
    dates = {(e["band"], e["show_id"]): e["date"] for e in events if e["type"] == "ShowRecorded"}
    last = Counter()
    for (band, _), date in dates.items():
        last[band] = max(last[band], int(date[:4]))
    recent, older = [], []
    for e in events:
        year = int(dates.get((e["band"], e["show_id"]), "9999")[:4])
        (recent if year > last[e["band"]] - years else older).append(e)
    await redis.flushall()
    await ensure_group(redis)
    scripts = Scripts(redis)
    batch = Settings.load().batch_size
    out: dict[str, Any] = {"recent_events": len(recent), "events": len(older)}
    for part, timed in ((recent, False), (older, True)):
        ids = await publish(redis, lines(part))
        started = time.perf_counter()
        for i in range(0, len(ids), batch):
            read = await redis.xrange(keys.EVENTS_STREAM, ids[i], ids[min(i + batch, len(ids)) - 1])
            await apply_entries(scripts, [(entry_id.decode(), fields) for entry_id, fields in read])
        if timed:
            out["events_per_s"] = round(len(older) / (time.perf_counter() - started))
    await redis.flushall()
    return out


async def latencies(
    url: str,
    band: str,
    as_of: str,
    concurrency: int,
    requests: int,
    queries: list[tuple[str, dict[str, Any]]] = QUERIES,
    cold: bool = False,
) -> dict[str, Any]:
    """p50/p99 of each query over request/reply. ``cold``: the band's change stamp is bumped
    before every request (outside the timing), so no answer comes from the cache."""
    return (await latencies_in_turn(url, [(band, as_of, {})], concurrency, requests, queries, cold))[0]


async def latencies_in_turn(
    url: str,
    subjects: Sequence[tuple[str, str, dict[str, dict[str, Any]]]],
    concurrency: int,
    requests: int,
    queries: list[tuple[str, dict[str, Any]]] = QUERIES,
    cold: bool = False,
) -> list[dict[str, Any]]:
    """``latencies`` of several subjects, ``(band, as_of, parameters by query)`` (which replace
    the query's own), asked in turn request by request: a machine whose speed drifts from
    minute to minute weighs on each of them alike."""
    outs: list[dict[str, Any]] = [{} for _ in subjects]
    redis = Redis.from_url(url)
    stamps = [keys.band_key(band, "stamp") for band, _, _ in subjects]
    async with StatsClient(url, timeout=60, max_connections=concurrency * 4 + 8) as client:
        for name, params in queries:
            bodies = [
                {**({"band": band} if name != "bands" else {}), "as_of": as_of, **params, **own.get(name, {})}
                for band, as_of, own in subjects
            ]
            for body in bodies:  # warm up, at the measured concurrency (the connections it needs opened)
                for _ in range(3):
                    await asyncio.gather(*(client.query(name, **body) for _ in range(concurrency)))
            times: list[list[float]] = [[] for _ in subjects]

            async def worker(
                n: int, name: str = name, bodies: list[dict[str, Any]] = bodies, times: list[list[float]] = times
            ) -> None:
                for _ in range(n):
                    for stamp, body, timed in zip(stamps, bodies, times, strict=True):
                        if cold:
                            await redis.incr(stamp)
                        t = time.perf_counter()
                        await client.query(name, **body)
                        timed.append((time.perf_counter() - t) * 1000)

            await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
            label = name + (
                "" if not params or name in ("song", "setlist") else "_" + "_".join(map(str, params.values()))
            )
            for out, timed in zip(outs, times, strict=True):
                out[label] = summary(timed)
    await redis.aclose()
    return outs


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


async def new_questions(
    url: str, band: str, first: str, last: str, requests: int, queries: list[tuple[str, dict[str, Any]]], seed: int = 5
) -> dict[str, Any]:
    """p50/p99 of each query over request/reply, concurrency 1, each request with an ``as_of``
    drawn (seeded, without repeats) between the band's first and last show: every request is
    a question new to the query process, so every answer is computed (as a client sweeping
    dates would see them)."""
    rng = random.Random(seed)
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    out = {}
    async with StatsClient(url, timeout=60) as client:
        for name, params in queries:
            days = rng.sample(range((end - start).days + 1), requests)
            times: list[float] = []
            for day in days:
                body = {"band": band, "as_of": (start + dt.timedelta(days=day)).isoformat(), **params}
                t = time.perf_counter()
                await client.query(name, **body)
                times.append((time.perf_counter() - t) * 1000)
            out[name + ("_" + "_".join(map(str, params.values())) if params else "")] = summary(times)
    return out


def seed_times(events: list[dict[str, Any]], as_of: str, repeat: int) -> dict[str, Any]:
    import seed_baseline

    if why := seed_baseline.available():
        return {"skipped": why}
    seed = seed_baseline.Seed(Reference(events), "phish")
    out = {}
    calls = {
        "gaps": {"min_plays": 5, "limit": 50},
        "velocity": {"limit": 50},
        "trends": {"period": "month"},
        "stats": {},
        "bustouts": {"days": 365, "gap_threshold": 180},
        "debuts": {"days": 365},
    }
    for name, params in calls.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            seed.call(name, as_of, vertical_slug="phish", **params)
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"median_ms": round(statistics.median(times), 1), "n": repeat}
    return out


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


async def drained(redis: Redis, timeout: float = 600) -> None:
    """Wait until the consumer group has no entry left to read or pending."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        group = (await redis.xinfo_groups(keys.EVENTS_STREAM))[0]
        if not group.get("lag") and not group.get("pending"):
            return
        await asyncio.sleep(0.5)


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


def synthetic(bands: int, plays_per_band: int, seed: int = 7) -> list[dict[str, Any]]:
    """Many bands of generated shows, 20 plays a show, rotating a repertoire as real bands do:
    each show draws from the 150 songs that debuted last (each with a popularity of its own),
    debuts a new song one time in three, brings one back from the whole catalogue one time in
    two and plays a one-off (a cover) one time in five. A script call of 1,000 events then
    touches about as many distinct songs as one of the real histories (0.16 per play, where
    Phish's touch 0.17, the Grateful Dead's 0.12 and Goose's 0.19), and that is what the
    apply's cost follows."""
    rng = random.Random(seed)
    events = []
    for b in range(bands):
        band = f"synthetic-{b:02d}"
        day = dt.date(1990, 1, 1)
        popularity = [rng.random() ** 2 + 0.05 for _ in range(60)]  # the songs, in debut order
        for s in range(plays_per_band // 20):
            day += dt.timedelta(days=rng.choice((1, 1, 2, 3, 30)))
            show_id = f"{b}-{s}"
            events.append(
                {
                    "type": "ShowRecorded",
                    "event_id": f"{band}-s{s}",
                    "band": band,
                    "show_id": show_id,
                    "date": day.isoformat(),
                    "band_name": band.title(),
                }
            )
            songs: list[str] = []
            if rng.random() < 1 / 3:
                popularity.append(rng.random() ** 2 + 0.05)
                songs.append(f"s{len(popularity) - 1}")
            if rng.random() < 1 / 5:
                songs.append(f"cover-{s}")
            if rng.random() < 1 / 2:
                songs.append(f"s{rng.randrange(len(popularity))}")
            rotation = range(max(0, len(popularity) - 150), len(popularity))
            weights = [popularity[k] for k in rotation]
            while len(songs) < 20:
                song = f"s{rng.choices(rotation, weights)[0]}"
                if song not in songs:
                    songs.append(song)
            rng.shuffle(songs)
            for pos, song in enumerate(songs, start=1):
                events.append(
                    {
                        "type": "PerformanceAdded",
                        "event_id": f"{band}-p{s}-{pos}",
                        "band": band,
                        "show_id": show_id,
                        "position": pos,
                        "set": "1" if pos < 10 else "2",
                        "song_id": song,
                        "song_title": f"Song {song}",
                    }
                )
    return events


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("faststream", "redis", "msgspec"):
        out[package] = metadata.version(package)
    return out


async def http_phases(
    url: str,
    last_show: str,
    seed: dict[str, Any],
    quick: bool,
    before: str | None,
    n: int,
    queries: list[tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """HTTP (``bench_http``): the seed's paths at concurrency 1 and their ratio to the seed
    router, cached answers at concurrency 64 beside request/reply from the same process,
    request/reply of ``before`` (a revision) beside this one's, and the framework figure."""
    if why := bench_http.wrk_available():
        print(f"HTTP phases skipped: {why}", file=sys.stderr)
        return {"skipped": why}
    out: dict[str, Any] = {}
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    print("HTTP: serve --http, the seed paths at c1, cached gaps at c64 (wrk)", file=sys.stderr)
    process = bench_http.serve(url, http=f"127.0.0.1:{port}")
    try:
        wait_ready(base, timeout=60)
        seconds = 2 if quick else 5
        for label, as_of in (("last_show", last_show), ("historical", HISTORICAL)):
            out[f"seed_paths_c1_{label}"] = c1 = bench_http.seed_paths_c1(base, as_of, seconds)
            if "skipped" not in seed[label]:
                out[f"seed_ratio_{label}"] = {q: round(seed[label][q]["median_ms"] / c1[q]["p50_ms"]) for q in c1}
        gaps = f"{base}/analytics/{bench_http.SEED_PATHS['gaps']}&as_of={last_show}"
        bench_http.wrk(gaps, 64, 2)  # warm up
        out["cached_c64"] = bench_http.wrk(gaps, 64, 2 * seconds)
        out["request_reply_c64"] = await bench_http.request_reply_load(url, last_show, 64, 2 * seconds)
    finally:
        bench_http.stop(process)
    if before:
        print(f"  request/reply of {before} beside this revision's, in turn", file=sys.stderr)
        out["request_reply_before_after"] = rounds = {"before": before, "rounds": []}
        with bench_http.Worktree(before) as old:
            for _ in range(2):
                row = {}
                for label, cwd in (("before", old), ("after", ROOT)):
                    handlers = bench_http.serve(url, cwd=cwd)
                    try:
                        await ready(url)
                        row[label] = await latencies(url, "phish", last_show, 1, n // 2, queries)
                    finally:
                        bench_http.stop(handlers)
                rounds["rounds"].append(row)
        for label in ("before", "after"):
            rounds[f"{label}_p50_ms"] = {
                q: round(statistics.median(r[label][q]["p50_ms"] for r in rounds["rounds"]), 3)
                for q in rounds["rounds"][0][label]
            }
    print("  the framework figure (Litestar beside FastAPI, one route, c64)", file=sys.stderr)
    out["frameworks"] = bench_http.frameworks(port + 1, 3 if quick else 6)
    return out


async def run(quick: bool, before: str | None = None) -> dict[str, Any]:
    for name in ("phish", "grateful-dead", "goose"):
        if not datasets.available(name):
            raise SystemExit(f"../shared/data/{name} is absent: the benchmark runs on the real histories")
    phish = list(datasets.phish())
    everything = [*phish, *datasets.grateful_dead(), *datasets.goose()]
    freeze_heap()  # the histories held here: a full collection over them held this client 72 ms
    last_show = max(e["date"] for e in phish if e["type"] == "ShowRecorded")
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "quick": quick,
        "versions": versions(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(tmp)
        server.start()
        redis = Redis.from_url(server.url)
        results["versions"]["redis_server"] = (await redis.info("server"))["redis_version"]
        try:
            print("ingest: Phish + Grateful Dead + Goose", file=sys.stderr)
            results["ingest"] = await bench_ingest(server, redis, lines(everything))
            print("  a backfill behind recent history", file=sys.stderr)
            results["ingest"]["backfill_behind_recent"] = await bench_backfill_behind(redis, everything)
            plays = sum(1 for e in everything if e["type"] == "PerformanceAdded")
            results["memory"] = {
                "plays": plays,
                "bytes_per_play": round(results["ingest"]["projection_bytes"] / plays, 1),
            }

            print("queries over request/reply (Phish)", file=sys.stderr)
            consumer = Consumer(server.url)
            await ready(server.url)
            ids = await publish(redis, lines(everything))
            await wait_settled(redis, ids, timeout=3600)
            n = 100 if quick else 400
            played = {e["show_id"] for e in phish if e["type"] == "PerformanceAdded"}
            show = max(
                (e["date"], e["show_id"])
                for e in phish
                if e["type"] == "ShowRecorded" and e["date"] <= HISTORICAL and e["show_id"] in played
            )[1]
            queries = [(q, {"show_id": show} if q == "setlist" else p) for q, p in QUERIES]
            results["queries"] = {}
            for label, as_of in (("last_show", last_show), ("historical", HISTORICAL)):
                for concurrency in (1, 16):
                    key = f"{label}_c{concurrency}"
                    print(f"  {key}", file=sys.stderr)
                    results["queries"][key] = await latencies(server.url, "phish", as_of, concurrency, n, queries)
                    results["queries"][key + "_cold"] = await latencies(
                        server.url, "phish", as_of, concurrency, n, queries, cold=True
                    )
            print("  new_questions_c1 (a new as_of each request)", file=sys.stderr)
            first_show = min(e["date"] for e in phish if e["type"] == "ShowRecorded")
            swept = [(q, p) for q, p in QUERIES if q not in ("song", "setlist", "bands")]
            results["queries"]["new_questions_c1"] = await new_questions(
                server.url, "phish", first_show, last_show, n // 2, swept
            )

            print("  asked during a backfill", file=sys.stderr)
            results["asked_during_a_backfill"] = await asked_during_a_backfill(
                server.url, redis, datasets.grateful_dead(), last_show
            )

            print("seed router (SQLite, same Phish plays)", file=sys.stderr)
            results["seed"] = {
                "last_show": seed_times(phish, last_show, 1 if quick else 3),
                "historical": seed_times(phish, HISTORICAL, 1 if quick else 3),
            }
            results["seed_ratio"] = {}
            for label in ("last_show", "historical"):
                ours = results["queries"][f"{label}_c1"]
                seed = results["seed"][label]
                if "skipped" not in seed:
                    results["seed_ratio"][label] = {q: round(seed[q]["median_ms"] / ours[q]["p50_ms"], 1) for q in seed}

            consumer.stop()  # the HTTP phases run handlers of their own (each request answered once)
            results["http"] = await http_phases(server.url, last_show, results["seed"], quick, before, n, queries)
            # before the floods below: they leave a backlog behind (by construction)
            print("highlights: write-through to the SSE stream, idle and during a backfill", file=sys.stderr)
            import bench_live  # it reuses this module's backfill publisher

            results["highlights"] = await bench_live.highlight_phases(server.url, quick)
            consumer = Consumer(server.url)
            await ready(server.url)
            await drained(redis)  # what the highlights phase's flood left

            print("live visibility during a backfill", file=sys.stderr)
            backfill = [{**e, "band": "backfill", "event_id": "bf-" + e["event_id"]} for e in datasets.grateful_dead()]
            live_n = 100 if quick else 300
            songs = live_songs(phish)

            async def live(label: str, **options: Any) -> None:
                print(f"  {label}", file=sys.stderr)
                results[label] = await live_visibility(
                    server.url, redis, count=live_n, show=label, songs=songs, **options
                )

            # one `serve` process; the stream path during a backfill comes last: it leaves the
            # largest backlog behind
            await live("live_visibility_idle")
            await live("live_write_through_idle", write_through=True)
            print("  asked_after_a_play", file=sys.stderr)
            results["asked_after_a_play"] = await asked_after_a_play(server.url, 20 if quick else 30, songs)
            await live("live_write_through_paced", backfill=backfill, write_through=True, rate=PACED_BACKFILL)
            await live("live_write_through", backfill=backfill, write_through=True)
            consumer.stop()
            # the floor of that measurement: the same path under the same flood with nothing
            # applying it (the query handlers alone: the flood waits in the stream)
            handlers = Consumer(server.url, "", "handlers")
            await ready(server.url)
            await live("live_write_through_floor", backfill=backfill, write_through=True)
            handlers.stop()
            # the deployment for live shows during backfills: handlers apart from a consumer
            # that yields the CPU (serve --role handlers; serve --role consumer with NICE=10)
            split = [Consumer(server.url, "bench-consumer", "consumer", nice=10), Consumer(server.url, "", "handlers")]
            await ready(server.url)
            await drained(redis)  # the paced backfill alone, as in one process
            await live("live_write_through_split_paced", backfill=backfill, write_through=True, rate=PACED_BACKFILL)
            await live("live_write_through_split", backfill=backfill, write_through=True)
            for process in split:
                process.stop()
            consumer = Consumer(server.url)
            await ready(server.url)
            await drained(redis)  # start from an empty backlog
            await live("live_visibility", backfill=backfill)
            consumer.stop()

            plays_per_band = 2_000 if quick else 20_000
            print(f"scale: 50 bands x {plays_per_band} plays", file=sys.stderr)
            events = synthetic(50, plays_per_band)
            freeze_heap()
            await redis.flushall()
            consumer = Consumer(server.url)
            await ready(server.url)
            ids = await publish(redis, lines(phish))  # beside them, the Phish-sized band
            await wait_settled(redis, ids, timeout=600)
            started = time.perf_counter()
            ids = await publish(redis, lines(events))
            await wait_settled(redis, ids, timeout=7200)
            elapsed = time.perf_counter() - started
            synthetic_last = max(
                e["date"] for e in events if e["band"] == "synthetic-25" and e["type"] == "ShowRecorded"
            )
            # `song` answers list every play: compare like with like, the synthetic song whose
            # play count is nearest to that of the Phish song asked about above
            phish_song = next(p["song_id"] for q, p in QUERIES if q == "song")
            phish_plays = sum(1 for e in phish if e["type"] == "PerformanceAdded" and e["song_id"] == phish_song)
            counts = Counter(e["song_id"] for e in events if e["band"] == "synthetic-25" and "song_id" in e)
            song, song_plays = min(counts.items(), key=lambda item: (abs(item[1] - phish_plays), item[0]))
            # per-band queries: a synthetic band and Phish in the same Redis, asked in turn
            per_band = [(q, p) for q, p in QUERIES if q not in ("setlist", "bands")]
            subjects = [("synthetic-25", synthetic_last, {"song": {"song_id": song}}), ("phish", last_show, {})]
            scale, beside = await latencies_in_turn(server.url, subjects, 1, n // 2, per_band)
            scale_cold, beside_cold = await latencies_in_turn(server.url, subjects, 1, n // 2, per_band, cold=True)
            # and `bands`, over the 51 (cold: after a change to the synthetic band)
            for figures, cold in ((scale, False), (scale_cold, True)):
                bands = await latencies(server.url, "synthetic-25", synthetic_last, 1, n // 2, [("bands", {})], cold)
                figures.update(bands)
            results["scale"] = {
                "plays": sum(1 for e in events if e["type"] == "PerformanceAdded"),
                "bands": 50,
                "song": {"song_id": song, "plays": song_plays, "phish_song_plays": phish_plays},
                "end_to_end_events_per_s": round(len(events) / elapsed),
                "queries_c1": scale,
                "queries_c1_cold": scale_cold,
                "phish_beside_c1": beside,
                "phish_beside_c1_cold": beside_cold,
                "per_band_ratio_c1": {q: round(scale[q]["p50_ms"] / beside[q]["p50_ms"], 2) for q in beside},
                "per_band_ratio_c1_cold": {
                    q: round(scale_cold[q]["p50_ms"] / beside_cold[q]["p50_ms"], 2) for q in beside_cold
                },
            }
            consumer.stop()
        finally:
            await redis.aclose()
            server.stop()
    return results


def http_columns(http: dict[str, Any]) -> dict[str, Any]:
    """The CSV's columns of the HTTP phases."""
    if "skipped" in http:
        return {}
    c1 = http["seed_paths_c1_last_show"]
    out = {
        "http_seed_paths_p50_ms_max": max(v["p50_ms"] for v in c1.values()),
        "http_seed_paths_p99_ms_max": max(v["p99_ms"] for v in c1.values()),
        "http_seed_ratio_min": min(min(r.values()) for k, r in http.items() if k.startswith("seed_ratio_"))
        if any(k.startswith("seed_ratio_") for k in http)
        else None,
        "http_cached_c64_per_s": http["cached_c64"]["per_s"],
        "http_cached_c64_p99_ms": http["cached_c64"]["p99_ms"],
        "request_reply_c64_per_s": http["request_reply_c64"]["per_s"],
        "request_reply_c64_p99_ms": http["request_reply_c64"]["p99_ms"],
        "litestar_per_s": http["frameworks"].get("litestar", {}).get("per_s"),
        "fastapi_per_s": http["frameworks"].get("fastapi", {}).get("per_s"),
    }
    if "request_reply_before_after" in http:
        ba = http["request_reply_before_after"]
        out["request_reply_p50_ms_before_max"] = max(ba["before_p50_ms"].values())
        out["request_reply_p50_ms_after_max"] = max(ba["after_p50_ms"].values())
    return out


def record(results: dict[str, Any]) -> Path:
    out_dir = ROOT / "bench-results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"{results['started'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2))
    q = results["queries"]["last_show_c1"]
    row = {
        "started": results["started"],
        "host": results["host"],
        "quick": results["quick"],
        **{f"v_{k}": v for k, v in results["versions"].items()},
        "ingest_eps": results["ingest"]["end_to_end_events_per_s"],
        "raw_eps": results["ingest"]["raw_ceiling_events_per_s"],
        "drain_eps": results["ingest"]["consumer_drain_events_per_s"],
        "bytes_per_play": results["memory"]["bytes_per_play"],
        **{f"{name}_p50_ms": v["p50_ms"] for name, v in q.items()},
        "gaps_seed_ratio": results["seed_ratio"].get("last_show", {}).get("gaps"),
        "live_p99_ms": results["live_visibility"]["p99_ms"],
        "scale_eps": results["scale"]["end_to_end_events_per_s"],
        "scale_per_band_ratio_max": max(results["scale"]["per_band_ratio_c1"].values()),
        "live_write_through_p99_ms": results["live_write_through"]["p99_ms"],
        "live_write_through_split_p99_ms": results["live_write_through_split"]["p99_ms"],
        "live_write_through_floor_p99_ms": results["live_write_through_floor"]["p99_ms"],
        "live_write_through_paced_p99_ms": results["live_write_through_paced"]["p99_ms"],
        "live_write_through_split_paced_p99_ms": results["live_write_through_split_paced"]["p99_ms"],
        "asked_after_a_play_p99_ms": max(v["p99_ms"] for v in results["asked_after_a_play"]["after_a_play"].values()),
        "gaps_new_question_p50_ms": results["queries"]["new_questions_c1"]["gaps"]["p50_ms"],
        "new_question_p50_ms_max": max(v["p50_ms"] for v in results["queries"]["new_questions_c1"].values()),
        "asked_during_a_backfill_p99_ms": results["asked_during_a_backfill"]["song"]["p99_ms"],
        "asked_during_a_backfill_eps": results["asked_during_a_backfill"]["backfill_events_per_s"],
        **http_columns(results["http"]),
        "highlight_idle_p99_ms": results["highlights"]["idle"]["p99_ms"],
        "highlight_backfill_p99_ms": results["highlights"]["during_backfill"]["p99_ms"],
    }
    csv_path = ROOT / "docs" / "benchmarks.csv"
    rows: list[dict[str, Any]] = []
    columns = list(row)
    if csv_path.exists():
        with csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or []) + [c for c in row if c not in (reader.fieldnames or [])]
    with csv_path.open("w", newline="") as f:  # rewritten whole: a new column gets a header
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows([*rows, row])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests and a smaller scale run")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure request/reply of this git revision's serve beside this one's, in turn",
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.quick, args.before))
    path = record(results)
    print(json.dumps(results, indent=2))
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
