"""Highlight visibility: from a write-through's return to the highlight read from the SSE
stream (``GET /live/phish``), idle and during a backfill another process floods in. Part of
``benchmark.py``; alone: ``python tests/bench_live.py [--quick]`` (its own Redis, Phish's
history loaded first; JSON on stdout).

Each sample is a live show's next song, a debut (a new song id), published through the
write-through; the clock starts when ``publish`` is sent and stops when the highlight's event
arrives on the open SSE connection (``after_return``: from when ``publish`` returned, the play
applied; the highlight is pushed in the same pipeline as the apply, so it often arrives first).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_http
import datasets
from bench_common import drained, lines, summary
from bench_visibility import _backfill_process
from conftest import wait_ready
from redis.asyncio import Redis

from service.client import StatsClient
from service.embedded import RedisServer
from service.ingest import publish, wait_settled

TODAY = "2025-07-01"  # the live shows' day, taken as today by the service under test


async def _arrivals(base: str, arrived: dict[str, float], opened: asyncio.Event) -> None:
    """Read ``GET /live/phish``, noting when each highlight id arrives."""
    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", f"{base}/live/phish") as stream:
        opened.set()
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                arrived[json.loads(line[5:])["id"]] = time.perf_counter()


async def visibility(
    url: str, base: str, count: int, tag: str, backfill: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    published, cpu_share, stop = context.Value("q", 0), context.Value("d", 0.0), context.Event()
    flood = context.Process(target=_backfill_process, args=(url, backfill or [], tag, published, cpu_share, stop, None))
    arrived: dict[str, float] = {}
    opened = asyncio.Event()
    reader = asyncio.create_task(_arrivals(base, arrived, opened))
    await asyncio.wait_for(opened.wait(), 10)
    times: list[float] = []  # from the write-through's sending to the highlight's arrival
    after_return: list[float] = []  # from its return (negative: the highlight came first)
    async with StatsClient(url, timeout=30) as client:
        show = f"live-{tag}"
        await client.publish(
            {"type": "ShowRecorded", "event_id": show, "band": "phish", "show_id": show, "date": TODAY}
        )
        if backfill:
            flood.start()
            await asyncio.sleep(1.0)
        for i in range(count):
            song = f"{tag}-debut-{i}"
            event = {
                "type": "PerformanceAdded",
                "event_id": f"{show}-{i}",
                "band": "phish",
                "show_id": show,
                "position": i + 1,
                "set": "1",
                "song_id": song,
                "song_title": f"Debut {i}",
            }
            sent = time.perf_counter()
            await client.publish(event)
            returned = time.perf_counter()
            wanted = f"phish:{show}:{i + 1}:debut"
            while wanted not in arrived and time.perf_counter() - returned < 5:
                await asyncio.sleep(0.0005)
            if wanted in arrived:
                times.append((arrived[wanted] - sent) * 1000)
                after_return.append((arrived[wanted] - returned) * 1000)
    stop.set()
    if backfill:
        flood.join(60)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader  # the connection closed before the server is asked to stop
    return {
        **summary(times),
        "after_return": summary(after_return),
        "missed": count - len(times),
        "backfill_events_published": published.value,
        "backfill_cpu_share": round(cpu_share.value, 2),
    }


async def highlight_phases(url: str, quick: bool) -> dict[str, Any]:
    """Idle, then during a backfill flood; ``serve --http`` of its own (role all)."""
    port = 19000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    os.environ["HIGHLIGHT_TODAY"] = TODAY  # passed on to the service's environment
    process = bench_http.serve(url, role="all", http=f"127.0.0.1:{port}")
    try:
        wait_ready(base, timeout=60)
        redis = Redis.from_url(url)
        await drained(redis)  # what earlier phases left in the stream, applied first
        await redis.aclose()
        n = 100 if quick else 300
        backfill = [{**e, "band": "backfill", "event_id": "bf-" + e["event_id"]} for e in datasets.grateful_dead()]
        return {
            "idle": await visibility(url, base, n, "idle"),
            "during_backfill": await visibility(url, base, n, "flood", backfill),
        }
    finally:
        os.environ.pop("HIGHLIGHT_TODAY", None)
        bench_http.stop(process)


async def main(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(tmp)
        server.start()
        redis = Redis.from_url(server.url)
        try:
            consumer = bench_http.serve(server.url, role="consumer")
            ids = await publish(redis, lines(list(datasets.phish())))
            await wait_settled(redis, ids, timeout=1800)
            bench_http.stop(consumer)
            return await highlight_phases(server.url, quick)
        finally:
            await redis.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    print(json.dumps(asyncio.run(main(parser.parse_args().quick)), indent=2))
