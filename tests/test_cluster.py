"""On a real Redis Cluster: three local primaries (``LocalCluster``: ``redis-server
--cluster-enabled yes`` on free ports, AOF on), the service with ``REDIS_CLUSTER`` and an
event log in 16 partitions. The real histories shuffled and duplicated, every query against
the reference; consumers killed with SIGKILL mid-ingest; a primary restarted mid-ingest; a
question and a write-through over request/reply."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest
from compare import compare_aggregates, compare_details
from conftest import shared_data
from factory import perf, show
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from reference import Reference
from test_processes import Consumers

from projections import keys
from projections.queries import Queries
from projections.scripts import Scripts
from projections.streams import Streams, parse_ref
from service.app import running
from service.client import StatsClient
from service.config import Settings
from service.connect import partitions_of, redis_client
from service.embedded import LocalCluster
from service.ingest import publish, wait_settled
from service.runtime import group_lag

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 16


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    local.start()
    try:
        yield local
    finally:
        local.stop()


def cluster_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_cluster": True,
        "stream_partitions": PARTITIONS,
        "consumer": "cluster-consumer",
        "batch_size": 500,
        "claim_idle_ms": 1000,
    }
    return Settings.load(**{**values, **overrides})


@pytest.fixture
async def credis(cluster: LocalCluster) -> AsyncIterator[Redis]:
    """A cluster client, every primary flushed first."""
    client = redis_client(cluster.url, cluster_settings())
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


def histories() -> list[dict[str, Any]]:
    names = [n for n in datasets.DATASETS if datasets.available(datasets.FOLDERS[n])]
    if not names:
        shared_data("phish")
    return [e for n in names for e in datasets.DATASETS[n]()]


async def assert_every_query(redis: Redis, events: list[dict[str, Any]]) -> None:
    ref, queries = Reference(events), Queries(Scripts(redis))
    for band in ref.bands:
        dates = sorted(e["date"] for e in events if e["type"] == "ShowRecorded" and e["band"] == band)
        for as_of in (dates[len(dates) // 2], dates[-1]):
            await compare_aggregates(queries, ref, band, as_of, all_bands=False)
        await compare_details(queries, ref, band, dates[-1])
    await compare_aggregates(queries, ref, next(iter(ref.bands)), "2030-01-01")  # `bands` too


async def test_histories_shuffled_and_duplicated_on_a_cluster(cluster: LocalCluster, credis: Redis) -> None:
    events = histories()
    rng = random.Random(22)
    published = events + rng.sample(events, len(events) // 10)
    rng.shuffle(published)
    async with running(cluster_settings(), cluster.url):
        streams = await partitions_of(credis)
        assert streams == Streams(PARTITIONS)
        refs = await publish(credis, [json.dumps(e) for e in published])
        settled = await wait_settled(credis, refs, timeout=600)
    assert (settled.applied, settled.dead) == (len(published), 0), settled.reasons
    # every band's events in its own partition, the partitions spread over the three primaries
    used = {parse_ref(ref)[0] for ref in refs}
    assert used <= set(streams.names) and len(used) > 1
    for event in events[:: len(events) // 50]:
        assert streams.of_band(event["band"]) in used
    nodes = {credis.get_node_from_key(stream).name for stream in streams.names}  # type: ignore[attr-defined]
    assert len(nodes) == 3
    await assert_every_query(credis, events)


async def test_request_reply_and_write_through_on_a_cluster(cluster: LocalCluster, credis: Redis) -> None:
    """Questions and write-throughs over request/reply, from a client whose REDIS_URL names
    another node than the service's: both meet on the deployment's pub/sub node."""
    events = [show("s1", "2024-01-01"), perf("s1", 1, "a"), perf("s1", 2, "b")]
    other_node = f"redis://127.0.0.1:{cluster.nodes[2].port}"  # the client names another node than serve
    async with (
        running(cluster_settings(), cluster.url),
        StatsClient(other_node, timeout=10, cluster=True) as client,
    ):
        for event in events:
            reply = await client.publish(event)
            assert reply["applied"] is True, reply
        stats = await client.stats("band")
        assert (stats.total_shows, stats.total_performances) == (1, 2)
        questions = await asyncio.gather(*(client.song("band", "a") for _ in range(20)))
        assert {q.total_plays for q in questions} == {1}
    await assert_every_query(credis, events)


def serving(url: str) -> Consumers:
    """``setlist-stats serve`` processes on the cluster (test_processes' ``Consumers``)."""
    return Consumers(url, REDIS_CLUSTER="true", STREAM_PARTITIONS=str(PARTITIONS))


async def pending(redis: Redis, streams: Streams) -> int:
    return sum([int((await redis.xpending(s, keys.CONSUMER_GROUP))["pending"]) for s in streams.names])


async def groups_created(redis: Redis, streams: Streams, timeout: float = 60) -> None:
    """Until a ``serve`` has created every partition's consumer group (it does on starting)."""
    deadline = asyncio.get_running_loop().time() + timeout
    for stream in streams.names:
        while not await has_group(redis, stream):
            assert asyncio.get_running_loop().time() < deadline, f"no consumer group on {stream}"
            await asyncio.sleep(0.1)


async def has_group(redis: Redis, stream: str) -> bool:
    try:
        return any(g["name"] == keys.CONSUMER_GROUP.encode() for g in await redis.xinfo_groups(stream))
    except ResponseError:  # no such stream yet
        return False


async def test_consumers_killed_on_a_cluster_lose_nothing(cluster: LocalCluster, credis: Redis) -> None:
    events = histories()
    rng = random.Random(9)
    group = serving(cluster.url)
    try:
        group.start()
        group.start()
        await groups_created(credis, Streams(PARTITIONS))
        publishing = asyncio.create_task(publish(credis, [json.dumps(e) for e in events], streams=Streams(PARTITIONS)))
        held = 0
        for _ in range(3):  # kill a running consumer at a random point, start another
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            held = max(held, await pending(credis, Streams(PARTITIONS)))
            group.kill(group.live[0])
            group.start()
        refs = await publishing
        settled = await wait_settled(credis, refs, timeout=600)
    finally:
        group.stop_all()
    assert (settled.applied, settled.dead) == (len(events), 0), settled.reasons
    assert held > 0, "no consumer held entries when killed: the reclaim path was not exercised"
    assert await pending(credis, Streams(PARTITIONS)) == 0
    await assert_every_query(credis, events)


async def test_a_primary_restarted_mid_ingest_loses_nothing(cluster: LocalCluster, credis: Redis) -> None:
    events = histories()
    lines = [json.dumps(e) for e in events]
    group = serving(cluster.url)
    try:
        group.start()
        await groups_created(credis, Streams(PARTITIONS))
        refs = await publish(credis, lines[: len(lines) // 2], streams=Streams(PARTITIONS))
        await asyncio.sleep(0.5)
        lag = await group_lag(credis, Streams(PARTITIONS))
        assert lag is not None and (lag[0] or 0) + lag[1] > 0, "nothing left to apply: not mid-ingest"
        await asyncio.to_thread(cluster.restart, 1, False, 0.5)  # SIGTERM: the AOF written, then started again
        refs += await publish(credis, lines[len(lines) // 2 :], streams=Streams(PARTITIONS))
        settled = await wait_settled(credis, refs, timeout=600)
    finally:
        group.stop_all()
    assert (settled.applied, settled.dead) == (len(events), 0), settled.reasons
    await assert_every_query(credis, events)
