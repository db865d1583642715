"""Real consumer processes: killed with SIGKILL mid-ingest, three at once, Redis restarted."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest
from compare import compare_aggregates, compare_details
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from reference import Reference

from projections import keys
from projections.queries import Queries
from projections.scripts import Scripts
from service.client import StatsClient
from service.demo import history
from service.embedded import RedisServer
from service.ingest import publish, wait_settled

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def big_history() -> tuple[str, list[dict[str, Any]]]:
    """The full Phish history where ../shared/data is present, else the generated demo history."""
    if datasets.available("phish"):
        return "phish", list(datasets.phish())
    return "wandering-moons", history()


class Consumers:
    """`setlist-stats serve` processes on one Redis."""

    def __init__(self, url: str, **env: str) -> None:
        self.url = url
        self.env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        self.env.update(REDIS_URL=url, CLAIM_IDLE_MS="1000", BATCH_SIZE="200", LOG_LEVEL="WARNING", **env)
        self.live: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**self.env, "CONSUMER_NAME": f"consumer-{self.started}"},
        )
        self.live.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        self.live.remove(process)

    def stop_all(self) -> None:
        for process in self.live:
            process.terminate()
        for process in self.live:
            process.wait(30)
        self.live.clear()


@pytest.fixture
def consumers(redis: Redis, redis_url: str) -> Iterator[Consumers]:
    group = Consumers(redis_url)
    try:
        yield group
    finally:
        group.stop_all()


async def assert_matches(redis: Redis, band: str, events: list[dict[str, Any]]) -> None:
    assert (await redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP))["pending"] == 0
    assert await redis.xlen(keys.DEAD_STREAM) == 0
    ref, queries = Reference(events), Queries(Scripts(redis))
    last = max(e["date"] for e in events if e["type"] == "ShowRecorded")
    await compare_aggregates(queries, ref, band, last, all_bands=False)
    await compare_aggregates(queries, ref, band, "2000-06-30", all_bands=False)
    await compare_details(queries, ref, band, last)


async def test_consumers_killed_mid_ingest_lose_nothing(redis: Redis, consumers: Consumers) -> None:
    band, events = big_history()
    rng = random.Random(99)
    consumers.start()
    publishing = asyncio.create_task(publish(redis, [json.dumps(e) for e in events]))
    left_pending = []
    for _ in range(4):  # kill the running consumer at a random point, start another
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        consumers.kill(consumers.live[0])
        name = f"consumer-{consumers.started}"
        left_pending.append(
            len(
                await redis.xpending_range(
                    keys.EVENTS_STREAM, keys.CONSUMER_GROUP, min="-", max="+", count=1000, consumername=name
                )
            )
        )
        consumers.start()
    ids = await publishing
    settled = await wait_settled(redis, ids, timeout=300)
    assert (settled.applied, settled.dead) == (len(events), 0)
    assert sum(left_pending) > 0, "no consumer died holding entries: the reclaim path was not exercised"
    await assert_matches(redis, band, events)
    print("entries left pending by each killed consumer:", left_pending)


async def test_three_concurrent_consumers_on_shuffled_duplicated_events(redis: Redis, consumers: Consumers) -> None:
    band, events = big_history()
    rng = random.Random(5)
    published = events + rng.sample(events, len(events) // 10)
    rng.shuffle(published)
    for _ in range(3):
        consumers.start()
    ids = await publish(redis, [json.dumps(e) for e in published])
    settled = await wait_settled(redis, ids, timeout=300)
    assert settled.dead == 0
    consumers_seen = await redis.xinfo_consumers(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)
    assert sum(1 for c in consumers_seen if c["name"].startswith(b"consumer-")) == 3
    await assert_matches(redis, band, events)


async def _retrying(call: Any, attempts: int = 200) -> Any:
    for _ in range(attempts):
        try:
            return await call()
        except (RedisConnectionError, ConnectionError, OSError):
            await asyncio.sleep(0.1)
    raise AssertionError("Redis did not come back")


async def test_redis_restart_mid_ingest(tmp_path: Path) -> None:
    """Restart the real redis-server (AOF on) mid-ingest: consumers and query handlers reconnect."""
    band, events = big_history()
    server = RedisServer(tmp_path / "redis")
    server.start()
    redis = Redis.from_url(server.url)
    group = Consumers(server.url)
    try:
        group.start()
        lines = [json.dumps(e) for e in events]
        half = len(lines) // 2
        ids = await publish(redis, lines[:half])
        await asyncio.sleep(0.5)
        server.stop()  # SIGTERM: Redis writes the AOF and exits
        await asyncio.sleep(1.0)
        server.start()
        ids += await _retrying(lambda: publish(redis, lines[half:]))
        settled = await _retrying(lambda: wait_settled(redis, ids, timeout=300))
        assert (settled.applied, settled.dead) == (len(events), 0)
        await assert_matches(redis, band, events)
        async with StatsClient(server.url, timeout=10) as client:  # the query handlers answer again
            stats = await _retrying(lambda: client.stats(band))
        assert stats.total_performances == Reference(events).stats(band, "2100-01-01")["total_performances"]
    finally:
        group.stop_all()
        await redis.aclose()
        server.stop()


@pytest.mark.parametrize("retries", [20, 0])
async def test_a_command_during_a_redis_restart_waits_for_it(tmp_path: Path, retries: int) -> None:
    """Every client of the service (``service.connect.redis_client``) sends a command again,
    with backoff, while Redis restarts: a command issued while it is down is answered once it
    is back. With ``REDIS_RETRIES=0`` the same command fails at once: the policy is what
    carries it over."""
    from service.config import Settings
    from service.connect import redis_client

    server = RedisServer(tmp_path / "redis")
    server.start()
    client = redis_client(server.url, Settings.load(redis_retries=retries))
    try:
        await client.set("k", "v")
        server.stop()
        restart = asyncio.get_running_loop().call_later(1.0, server.start)
        if retries:
            assert await client.get("k") == b"v"  # issued while Redis was down; kept by its AOF
        else:
            with pytest.raises(RedisConnectionError):
                await client.get("k")
    finally:
        restart.cancel()
        await client.aclose()
        server.stop()
