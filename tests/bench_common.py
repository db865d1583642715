"""What the benchmark's phases share: the queries asked, percentiles, a `serve` process,
waiting for it, and asking it (``latencies``)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from redis.asyncio import Redis

from projections import keys
from service.client import StatsClient
from service.config import Settings

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


async def drained(redis: Redis, timeout: float = 600) -> None:
    """Wait until the consumer group has no entry left to read or pending."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        group = (await redis.xinfo_groups(keys.EVENTS_STREAM))[0]
        if not group.get("lag") and not group.get("pending"):
            return
        await asyncio.sleep(0.5)


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


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("faststream", "redis", "msgspec"):
        out[package] = metadata.version(package)
    return out


def save(results: dict[str, Any], prefix: str = "") -> Path:
    """A run's results in bench-results/<prefix><time>.json."""
    out_dir = ROOT / "bench-results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"{prefix}{results['started'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2))
    return path
