"""Nothing lost, nothing doubled: poison, failing applies, crashes before the ack, retries."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from compare import compare_aggregates, compare_details
from conftest import contents, ingest, settings_for_tests
from factory import perf, show
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.batch import apply_entries
from projections.queries import Queries
from projections.scripts import Scripts
from projections.streams import Streams, parse_ref
from service import app as app_module
from service import runtime
from service.app import ensure_group, running
from service.dlq import list_dead, replay
from service.ingest import publish, wait_settled

AS_OF = "2030-01-01"


def history(band: str = "band", shows: int = 6) -> list[dict[str, Any]]:
    events = []
    for i in range(shows):
        sid = f"s{i}"
        events.append(show(sid, f"2001-0{1 + i % 9}-{10 + i:02d}", band=band))
        events += [perf(sid, 1, f"song{i % 3}", band=band), perf(sid, 2, f"song{(i + 1) % 4}", band=band)]
    return events


async def check(queries: Queries, events: list[dict[str, Any]], band: str = "band", all_bands: bool = True) -> None:
    ref = Reference(events)
    await compare_aggregates(queries, ref, band, AS_OF, all_bands)
    await compare_details(queries, ref, band, AS_OF)


async def pending(redis: Redis, streams: Streams | None = None) -> int:
    """Entries pending in the consumer groups, every partition's."""
    names = (streams or Streams()).names
    return sum([int((await redis.xpending(s, keys.CONSUMER_GROUP))["pending"]) for s in names])


POISON: list[tuple[bytes | str, str]] = [
    (b"\xff\xfe\xfa", "not valid"),
    ('{"type": "ShowRecorded", ', "not valid JSON"),
    (json.dumps({**show("p1", "2001-01-01"), "show_order": "first"}), "Expected `int`, got `str` - at `$.show_order`"),
    (json.dumps({**show("p2", "2001-01-01"), "type": "ShowCancelled"}), "unknown event type"),
    (json.dumps(perf("s0", 0, "song0")), "Expected `int` >= 1 - at `$.position`"),
    (json.dumps(perf("s0", 3, "song0", title="x" * 5000)), "song_title is longer than 500 characters, the limit"),
]


async def test_poison_is_parked_with_its_reason_and_the_stream_flows_on(redis: Redis, service: Queries) -> None:
    good = history()
    published = good[:5] + [raw for raw, _ in POISON] + good[5:]
    settled = await ingest(redis, published)
    assert (settled.applied, settled.dead) == (len(good), len(POISON))
    await redis.xadd(keys.EVENTS_STREAM, {"something_else": "x"})  # an entry without __data__
    late = [show("late", "2002-01-01"), perf("late", 1, "song0")]
    await ingest(redis, late)
    dead = await list_dead(redis)
    assert [(d["raw"].encode(errors="replace"), d["deliveries"]) for d in dead][1:6] == [
        (p if isinstance(p, bytes) else p.encode(), 1) for p, _ in POISON[1:]
    ]
    for entry, (_, reason) in zip(dead, POISON, strict=False):
        assert reason in entry["reason"], entry
    assert dead[-1]["reason"] == "the entry has no __data__ field"
    assert await pending(redis) == 0
    await check(service, good + late)


@pytest.mark.parametrize("partitions", [1, 4])
async def test_a_failing_apply_is_retried_then_parked_then_replayed(
    redis: Redis, redis_url: str, partitions: int
) -> None:
    """In one stream or in partitions: reclaimed, retried, parked after MAX_DELIVERIES, and
    once fixed, replayed into the partition it came from and applied."""
    await redis.set(keys.band_key("broken", "shows"), "not a hash")  # every apply for this band fails
    settings = settings_for_tests(claim_idle_ms=200, max_deliveries=3, stream_partitions=partitions)
    streams = Streams(partitions)
    broken, fine = history("broken", 2), history("fine", 3)
    async with running(settings, redis_url):
        queries = Queries(Scripts(redis))
        settled = await ingest(redis, broken + fine, timeout=60)
        assert (settled.applied, settled.dead) == (len(fine), len(broken))
        await check(queries, fine, "fine", all_bands=False)
        dead = await list_dead(redis)
        assert {d["deliveries"] for d in dead} == {3}
        assert all("WRONGTYPE" in d["reason"] and "failed 3 deliveries" in d["reason"] for d in dead)
        assert {d["stream"] for d in dead} == {streams.of_band("broken")}
        assert await pending(redis, streams) == 0

        await redis.delete(keys.band_key("broken", "shows"))  # the fix
        new_ids = await replay(redis)
        assert {parse_ref(ref)[0] for ref in new_ids} == {streams.of_band("broken")}
        settled = await wait_settled(redis, new_ids, timeout=60)
        assert (settled.applied, settled.dead) == (len(broken), 0)
        assert await list_dead(redis) == []
        await check(queries, broken + fine, "broken")


async def test_crash_between_apply_and_ack_is_reclaimed_and_reapplied_as_a_no_op(redis: Redis, redis_url: str) -> None:
    events = history()
    await ensure_group(redis)
    ids = await publish(redis, [json.dumps(e) for e in events])
    # a consumer reads and applies, then dies before its ack
    read = await redis.xreadgroup(keys.CONSUMER_GROUP, "doomed", {keys.EVENTS_STREAM: ">"}, count=100)
    entries = [(i.decode(), f) for i, f in read[0][1]]
    outcome = await apply_entries(Scripts(redis), entries)
    assert len(outcome.applied) == len(events)
    assert await pending(redis) == len(events)
    before = await contents(redis, "ss:{band}:1:*")
    async with running(settings_for_tests(claim_idle_ms=300), redis_url):
        await wait_settled(redis, ids, timeout=30)
    assert await pending(redis) == 0
    assert await contents(redis, "ss:{band}:1:*") == before
    await check(Queries(Scripts(redis)), events)


async def test_an_apply_interrupted_midway_is_completed_by_its_retry(redis: Redis) -> None:
    """Redis keeps the writes a failing script made; re-applying the entries completes them."""
    events = history()
    scripts = Scripts(redis)
    entries = [(f"{i + 1}-0", {b"__data__": json.dumps(e).encode()}) for i, e in enumerate(events)]
    await redis.set(keys.band_key("band", "seen"), "in the way")  # written late in every event
    outcome = await apply_entries(scripts, entries)
    assert outcome.failed and not outcome.applied
    assert await redis.hlen(keys.band_key("band", "plays"))  # partial writes are there
    await redis.delete(keys.band_key("band", "seen"))
    outcome = await apply_entries(scripts, entries)
    assert len(outcome.applied) == len(events)
    await check(Queries(scripts), events)


async def test_duplicates_of_events_and_of_whole_batches_change_nothing(redis: Redis, service: Queries) -> None:
    events = history()
    await ingest(redis, events)
    before = await contents(redis, "ss:{band}:1:*")
    stream = await redis.xrange(keys.EVENTS_STREAM)
    entries = [(i.decode(), f) for i, f in stream]
    await apply_entries(Scripts(redis), entries)  # the whole batch delivered again
    await apply_entries(Scripts(redis), entries[3:5])  # and single events
    assert await contents(redis, "ss:{band}:1:*") == before
    # a producer retrying after a timeout: the same events (same event_id) published again
    await ingest(redis, [events[0], events[1], events[1]])
    await check(service, events)
    stats = await service.answer("stats", {"band": "band", "as_of": AS_OF})
    assert (stats["total_shows"], stats["total_performances"]) == (6, 12)


async def test_a_stop_that_hangs_is_forced_after_a_bound(
    redis: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app_module, "STOP_TIMEOUT", 0.5)
    monkeypatch.setattr(runtime, "STOP_TIMEOUT", 0.5)
    started = time.monotonic()
    async with running(settings_for_tests(), redis_url) as app:
        service = app.context.get("service")
        tasks = [t for sub in app.brokers[0].subscribers for t in sub.tasks] + [service._reclaim_task]

        async def hang(*args: Any, **kwargs: Any) -> None:
            await asyncio.Event().wait()

        app.brokers[0].stop = hang  # type: ignore[method-assign]
    await asyncio.sleep(0.1)
    assert time.monotonic() - started < 10
    assert "the app did not stop within 1.0 s; forced" in caplog.text
    assert tasks and all(t.done() for t in tasks)
    async with running(settings_for_tests(), redis_url):  # a fresh app works as before
        await ingest(redis, history(), timeout=60)
