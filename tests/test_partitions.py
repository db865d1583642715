"""The partitioned event log (projections/streams.py) on one Redis: where a band's events go,
a deployment in four partitions against the reference, the recorded number every process
follows, and changing it (``setlist-stats repartition``) with nothing lost."""

from __future__ import annotations

import json
import random
from typing import Any

import datasets
import pytest
from compare import compare_aggregates, compare_details
from conftest import settings_for_tests, shared_data
from factory import perf, show
from redis.asyncio import Redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from reference import Reference

from projections import keys
from projections.queries import Queries
from projections.scripts import Scripts
from projections.streams import Streams, parse_ref
from service.app import running
from service.connect import partitions, partitions_of
from service.ingest import publish, wait_settled
from service.repartition import repartition


def test_a_band_has_one_partition_in_its_slot_range() -> None:
    assert Streams(1).names == [keys.EVENTS_STREAM]
    streams = Streams(16)
    assert len(set(streams.names)) == 16
    for i, name in enumerate(streams.names):  # each stream's slot in its partition's range
        assert i * REDIS_CLUSTER_HASH_SLOTS // 16 <= key_slot(name.encode()) < (i + 1) * REDIS_CLUSTER_HASH_SLOTS // 16
    for band in ("phish", "goose", "grateful-dead", "a", "b-2"):
        slot = key_slot(keys.band_key(band, "stamp").encode())
        assert streams.partition(band) == slot * 16 // REDIS_CLUSTER_HASH_SLOTS
        assert streams.of_band(band) == streams.names[streams.partition(band)]
    with pytest.raises(ValueError, match="from 1 to 1024"):
        Streams(0)


def small_histories() -> list[dict[str, Any]]:
    shared_data("goose")
    events = list(datasets.goose())
    # and a few small bands, so that several partitions hold events
    for b in range(6):
        band = f"band-{b}"
        events += [show("s1", "2024-01-01", band=band), perf("s1", 1, "x", band=band)]
        events += [show("s2", "2024-02-01", band=band), perf("s2", 1, "y", band=band), perf("s2", 2, "x", band=band)]
    return events


async def assert_answers(redis: Redis, events: list[dict[str, Any]]) -> None:
    ref, queries = Reference(events), Queries(Scripts(redis))
    for band in ref.bands:
        await compare_aggregates(queries, ref, band, "2030-01-01", all_bands=False)
        await compare_details(queries, ref, band, "2030-01-01")


async def test_four_partitions_shuffled_and_duplicated(redis: Redis, redis_url: str) -> None:
    events = small_histories()
    rng = random.Random(4)
    published = events + rng.sample(events, len(events) // 10)
    rng.shuffle(published)
    async with running(settings_for_tests(stream_partitions=4), redis_url):
        assert await partitions_of(redis) == Streams(4)
        refs = await publish(redis, [json.dumps(e) for e in published] + ["not json"])
        settled = await wait_settled(redis, refs, timeout=300)
    assert (settled.applied, settled.dead) == (len(published), 1)
    assert list(settled.reasons) == [refs[-1]] and parse_ref(refs[-1])[0] == Streams(4).names[0]
    assert len({parse_ref(ref)[0] for ref in refs}) > 1
    await assert_answers(redis, events)


async def test_the_recorded_number_is_followed_and_changed_only_by_repartition(redis: Redis, redis_url: str) -> None:
    events = small_histories()
    async with running(settings_for_tests(), redis_url):  # a deployment of one partition
        await wait_settled(redis, await publish(redis, [json.dumps(e) for e in events]), timeout=300)
    with pytest.raises(SystemExit, match="run `setlist-stats repartition 4`"):
        partitions(redis_url, settings_for_tests(stream_partitions=4))
    assert partitions(redis_url, settings_for_tests()) == Streams(1)  # unset: what is recorded

    for count, later in ((4, "2024-03-01"), (2, "2024-04-01"), (1, "2024-05-01")):
        done = await repartition(redis, count, grace=0)
        assert (done.new, done.copied) == (count, await _log_length(redis, Streams(count)))
        assert await partitions_of(redis) == Streams(count)
        assert not [s for s in Streams(done.old).names if s not in Streams(count).names and await redis.exists(s)]
        await assert_answers(redis, events)  # rebuilt from the new partitions
        tonight = [show(later, later), perf(later, 1, "x"), perf(later, 2, "new")]
        async with running(settings_for_tests(stream_partitions=count), redis_url):
            settled = await wait_settled(redis, await publish(redis, [json.dumps(e) for e in tonight]), timeout=60)
        assert (settled.applied, settled.dead) == (3, 0)  # nothing copied is applied twice, the new is
        events += tonight
        await assert_answers(redis, events)


async def _log_length(redis: Redis, streams: Streams) -> int:
    return sum([await redis.xlen(s) for s in streams.names])


async def test_the_repartition_command(redis: Redis, redis_url: str) -> None:
    """``setlist-stats repartition N``: the log moved, the number recorded, a summary on stdout;
    an N out of range refused, naming the range."""
    from test_cli import run

    events = small_histories()
    async with running(settings_for_tests(), redis_url):
        await wait_settled(redis, await publish(redis, [json.dumps(e) for e in events]), timeout=300)
    result = run("repartition", "0", REDIS_URL=redis_url)
    assert result.returncode == 2 and "N must be from 1 to 1024, got 0" in result.stderr
    result = run("repartition", "3", "--grace", "0", REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["old_partitions"], summary["new_partitions"], summary["copied"]) == (1, 3, len(events))
    assert await partitions_of(redis) == Streams(3)
    await assert_answers(redis, events)
