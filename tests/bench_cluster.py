"""The scale phase on a Redis Cluster: a synthetic history of many bands (seeded, shaped like
real ones: band sizes from a long-tailed distribution, tours of shows a few days apart,
rotations of a repertoire that grows, rarities, covers) on a local cluster of three primaries
(``LocalCluster``), the event log in 16 partitions.

- ingest end to end (publishing while ``serve --role consumer`` processes apply): the first
  half of the bands with one consumer process, the second half with three;
- Redis memory per play over the three primaries (the streams' own memory apart);
- each query's latency for Phish on the cluster, beside the same band on a Redis of its own in
  the same run, and for the largest synthetic band.

    .venv/bin/python tests/bench_cluster.py            # 10,000,000 plays over 50,000 bands
    .venv/bin/python tests/bench_cluster.py --quick    # 200,000 plays over 1,000 bands

Results go to bench-results/cluster-<time>.json and stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["REDIS_CLUSTER"] = "true"  # every client and serve of this run speaks to the cluster
os.environ["STREAM_PARTITIONS"] = "16"

import datasets
from bench_common import QUERIES, Consumer, latencies_in_turn, lines, ready, save
from redis.asyncio import Redis

from projections.streams import Streams
from service.cli import freeze_heap
from service.client import StatsClient
from service.config import Settings
from service.connect import partitions_of, redis_client
from service.embedded import LocalCluster, RedisServer
from service.ingest import publish, wait_settled
from service.runtime import group_lag


def band_sizes(bands: int, plays: int, seed: int) -> list[int]:
    """Plays per band: log-normal (most bands a few dozen plays, a few thousands), scaled to
    ``plays`` in all, at least 20 each."""
    rng = random.Random(seed)
    raw = [rng.lognormvariate(0, 1.4) for _ in range(bands)]
    scale = plays / sum(raw)
    return [max(20, round(r * scale)) for r in raw]


def band_events(b: int, plays: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """One band's history: tours (shows 1 to 3 days apart, months between tours), each show
    10 to 22 songs drawn from a rotation of the 120 songs that debuted last (each with a
    popularity of its own), a debut one show in four, a song brought back from the whole
    catalogue one in three, a cover one in six."""
    band = f"band-{b:05d}"
    per_show = rng.randint(10, 22)
    day = dt.date(1965 + rng.randrange(55), 1, 1) + dt.timedelta(days=rng.randrange(365))
    popularity = [rng.random() ** 2 + 0.05 for _ in range(min(40, per_show * 2))]
    played = 0
    s = 0
    while played < plays:
        day += dt.timedelta(days=rng.choice((1, 1, 2, 3)) if s % 25 else rng.randint(60, 200))
        show_id = f"{b}-{s}"
        yield {"type": "ShowRecorded", "event_id": f"{band}-s{s}", "band": band, "show_id": show_id,
               "date": day.isoformat(), "band_name": band.title()}  # fmt: skip
        songs: list[str] = []
        if rng.random() < 1 / 4:
            popularity.append(rng.random() ** 2 + 0.05)
            songs.append(f"s{len(popularity) - 1}")
        if rng.random() < 1 / 6:
            songs.append(f"cover-{s}")
        if rng.random() < 1 / 3:
            songs.append(f"s{rng.randrange(len(popularity))}")
        rotation = range(max(0, len(popularity) - 120), len(popularity))
        weights = [popularity[k] for k in rotation]
        size = min(per_show, plays - played, len(rotation) + len(songs))
        while len(songs) < size:
            song = f"s{rng.choices(rotation, weights)[0]}"
            if song not in songs:
                songs.append(song)
        for pos, song in enumerate(songs, start=1):
            yield {"type": "PerformanceAdded", "event_id": f"{band}-p{s}-{pos}", "band": band, "show_id": show_id,
                   "position": pos, "set": "1" if pos <= per_show // 2 else "2", "song_id": song,
                   "song_title": f"Song {song}"}  # fmt: skip
        played += len(songs)
        s += 1


def history_lines(sizes: list[int], first: int, stop: int, seed: int) -> Iterator[str]:
    for b in range(first, stop):
        rng = random.Random(seed * 1_000_003 + b)
        for event in band_events(b, sizes[b], rng):
            yield json.dumps(event)


async def used(redis: Any) -> int:
    """used_memory summed over the cluster's primaries."""
    total = 0
    for node in redis.get_primaries():
        total += int((await redis.info("memory", target_nodes=node))["used_memory"])
    return total


async def answering(url: str, band: str) -> None:
    """Wait until the query handlers answer a question about ``band`` (``bench_common.ready``
    asks ``bands``, whose answer over 50,000 bands is megabytes)."""
    async with StatsClient(url, timeout=5) as client:
        for _ in range(60):
            try:
                await client.stats(band)
                await asyncio.sleep(Settings.load().pace_served_window)
                return
            except TimeoutError:
                continue
    raise RuntimeError("the service did not start")


async def drained(redis: Redis, streams: Streams, timeout: float = 7200) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await group_lag(redis, streams)
        if found and not found[0] and not found[1]:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("the consumers did not catch up")


async def ingest(url: str, redis: Redis, sizes: list[int], first: int, stop: int, consumers: int) -> dict[str, Any]:
    """Bands ``first``..``stop`` published while ``consumers`` consumer processes apply them."""
    streams = await partitions_of(redis)
    processes = [Consumer(url, f"scale-{consumers}-{i}", role="consumer") for i in range(consumers)]
    try:
        await asyncio.sleep(3)  # the consumers subscribed
        started = time.perf_counter()
        events = 0

        def counted() -> Iterator[str]:
            nonlocal events
            for line in history_lines(sizes, first, stop, seed=11):
                events += 1
                yield line

        await publish(redis, counted(), streams=streams)
        published = time.perf_counter() - started
        await drained(redis, streams)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.stop()
    return {
        "bands": stop - first,
        "plays": sum(sizes[first:stop]),
        "events": events,
        "consumer_processes": consumers,
        "publish_events_per_s": round(events / published),
        "end_to_end_events_per_s": round(events / elapsed),
    }


async def run(plays: int, bands: int, requests: int) -> dict[str, Any]:
    phish = list(datasets.phish())
    freeze_heap()
    last_show = max(e["date"] for e in phish if e["type"] == "ShowRecorded")
    sizes = band_sizes(bands, plays, seed=3)
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "bands": bands,
        "plays": sum(sizes),
        "band_plays": {"median": sorted(sizes)[bands // 2], "max": max(sizes), "min": min(sizes)},
        "primaries": 3,
        "partitions": 16,
    }
    per_band = [(q, p) for q, p in QUERIES if q not in ("setlist", "bands")]
    with tempfile.TemporaryDirectory() as tmp:
        # the baseline: Phish alone on a Redis of its own (one serve, not a cluster)
        single = RedisServer(Path(tmp) / "single")
        single.start()
        os.environ.update(REDIS_CLUSTER="false", STREAM_PARTITIONS="1")
        try:
            alone = Consumer(single.url)
            await ready(single.url)
            single_redis = Redis.from_url(single.url)
            await wait_settled(single_redis, await publish(single_redis, lines(phish)), timeout=600)
            results["phish_alone"] = (
                await latencies_in_turn(single.url, [("phish", last_show, {})], 1, requests, per_band)
            )[0]
            alone.stop()
            await single_redis.aclose()
        finally:
            single.stop()
            os.environ.update(REDIS_CLUSTER="true", STREAM_PARTITIONS="16")

        cluster = LocalCluster(Path(tmp) / "cluster")
        cluster.start()
        redis = redis_client(cluster.url, Settings.load())
        try:
            base = await used(redis)
            half = bands // 2
            print(f"ingest: {half} bands, one consumer process", file=sys.stderr)
            results["ingest_1"] = await ingest(cluster.url, redis, sizes, 0, half, 1)
            save(results, "cluster-")
            print(f"ingest: {bands - half} bands, three consumer processes", file=sys.stderr)
            results["ingest_3"] = await ingest(cluster.url, redis, sizes, half, bands, 3)
            save(results, "cluster-")
            streams = await partitions_of(redis)
            stream_bytes = sum([int(await redis.memory_usage(s) or 0) for s in streams.names])
            total = await used(redis) - base
            results["memory"] = {
                "used_bytes": total,
                "streams_bytes": stream_bytes,
                "bytes_per_play": round((total - stream_bytes) / sum(sizes), 1),
            }
            print(f"queries: Phish on the cluster beside the {bands:,} bands, and the largest band", file=sys.stderr)
            serving = Consumer(cluster.url)
            await answering(cluster.url, "band-00000")
            await wait_settled(redis, await publish(redis, lines(phish)), timeout=600)
            largest = max(range(bands), key=lambda b: sizes[b])
            largest_band = f"band-{largest:05d}"
            largest_last = max(
                json.loads(line)["date"]
                for line in history_lines(sizes, largest, largest + 1, seed=11)
                if '"ShowRecorded"' in line
            )
            song = {"song": {"song_id": "s0"}}
            on_cluster, big = await latencies_in_turn(
                cluster.url, [("phish", last_show, {}), (largest_band, largest_last, song)], 1, requests, per_band
            )
            serving.stop()
            results["phish_on_cluster"] = on_cluster
            results["largest_band"] = {"band": largest_band, "plays": sizes[largest], "queries": big}
            alone = results["phish_alone"]
            results["phish_ratio_cluster_to_alone_p50"] = {
                q: round(on_cluster[q]["p50_ms"] / alone[q]["p50_ms"], 2) for q in alone
            }
        finally:
            await redis.aclose()
            cluster.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200,000 plays over 1,000 bands")
    parser.add_argument("--plays", type=int)
    parser.add_argument("--bands", type=int)
    args = parser.parse_args()
    plays = args.plays or (200_000 if args.quick else 10_000_000)
    bands = args.bands or (1_000 if args.quick else 50_000)
    results = asyncio.run(run(plays, bands, 100 if args.quick else 300))
    path = save(results, "cluster-")
    print(json.dumps(results, indent=2))
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
