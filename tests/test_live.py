"""Live events: the write-through publish, and short script calls while it is in use."""

from __future__ import annotations

import asyncio
import json
import random
from contextlib import AsyncExitStack
from typing import Any

import pytest
from compare import compare_aggregates, compare_details
from conftest import contents, settings_for_tests
from factory import perf, show
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.batch import BULK_CHUNK, LIVE_CHUNK, apply_entries, write_targets
from projections.contract import QueryError
from projections.queries import Queries
from projections.scripts import Scripts
from service.app import Service, running
from service.client import StatsClient
from service.ingest import publish, wait_settled
from service.pacing import Pacing

AS_OF = "2030-01-01"


def backfill(shows: int, band: str = "backfill", seed: int = 3) -> list[dict[str, Any]]:
    """A band's history of ``shows`` shows of 15 songs each, in order."""
    rng = random.Random(seed)
    events = []
    for i in range(shows):
        sid = f"b{i}"
        date = f"{1980 + i // 100}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        events.append(show(sid, date, band=band, show_order=1 + i % 3))
        events += [perf(sid, p, f"song{rng.randrange(150)}", band=band) for p in range(1, 16)]
    return events


async def append_at_once(redis: Redis, events: list[dict[str, Any]]) -> list[str]:
    """Append ``events`` in one transaction: the consumer's next read takes them together (a
    backlog), not the first of them alone as they arrive."""
    async with redis.pipeline(transaction=True) as pipe:
        for event in events:
            pipe.xadd(keys.EVENTS_STREAM, {"__data__": json.dumps(event)})
        return [entry_id.decode() for entry_id in await pipe.execute()]


def record_rests(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds of each paced script call a consumer rested after (``Pacing.after``) from
    now on, in a list."""
    rests: list[float] = []
    real_after = Pacing.after

    async def after(self: Pacing, seconds: float) -> None:
        rests.append(seconds)
        await real_after(self, seconds)

    monkeypatch.setattr(Pacing, "after", after)
    return rests


async def lag(redis: Redis) -> int:
    group = (await redis.xinfo_groups(keys.EVENTS_STREAM))[0]
    return int(group["lag"] or 0)


async def test_a_write_through_is_visible_at_once_behind_a_backlog(
    redis: Redis, redis_url: str, service: Queries
) -> None:
    history = backfill(2000)
    ids = await publish(redis, [json.dumps(e) for e in history])
    live = [show("tonight", "2025-07-01", band="live"), perf("tonight", 1, "tweezer", band="live")]
    live += [perf("tonight", p, f"song{p % 4}", band="live") for p in range(2, 12)]
    async with StatsClient(redis_url, timeout=10) as client:
        for n, event in enumerate(live):
            reply = await client.publish(event)
            assert reply["applied"] is True and reply["id"]
            ids.append(reply["id"])
            if n:
                setlist = await client.setlist("live", "tonight")
                assert len(setlist.performances) == n, setlist
        # every live event was answered while the backlog ahead of it was still being applied
        assert await lag(redis) > 0
    assert (await write_targets(redis))[1] == LIVE_CHUNK and 0 < await redis.pttl(keys.LIVE) <= 600_000
    await wait_settled(redis, ids, timeout=120)
    assert int((await redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP))["pending"]) == 0
    ref = Reference(history + live)
    for band in ("live", "backfill"):
        await compare_aggregates(service, ref, band, AS_OF)
    await compare_details(service, ref, "live", AS_OF)


async def test_an_invalid_write_through_is_refused_and_not_appended(
    redis: Redis, redis_url: str, service: Queries
) -> None:
    async with StatsClient(redis_url, timeout=10) as client:
        for event, field in [
            (perf("s1", 0, "a"), "position"),
            ({**show("s1", "2001-01-01"), "date": "2001-02-30"}, "date"),
            ({**show("s1", "2001-01-01"), "band": "Not A Slug"}, "band"),
            ({k: v for k, v in perf("s1", 1, "a").items() if k != "song_id"}, "song_id"),
        ]:
            with pytest.raises(QueryError) as info:
                await client.publish(event)
            assert (info.value.code, info.value.parameter) == ("invalid_event", field), info.value
        with pytest.raises(QueryError, match="unknown event type"):
            await client.publish({**show("s1", "2001-01-01"), "type": "ShowCancelled"})
    assert await redis.xlen(keys.EVENTS_STREAM) == 0
    assert await redis.xlen(keys.DEAD_STREAM) == 0


async def test_a_write_through_that_cannot_be_applied_is_in_the_stream_all_the_same(
    redis: Redis, redis_url: str, service: Queries
) -> None:
    await redis.set(keys.band_key("band", "shows"), "in the way")  # every apply for this band fails
    async with StatsClient(redis_url, timeout=10) as client:
        reply = await client.publish(show("s1", "2001-01-01"))
        assert reply["applied"] is False and "WRONGTYPE" in reply["error"]
        assert [i.decode() for i, _ in await redis.xrange(keys.EVENTS_STREAM)] == [reply["id"]]
        await redis.delete(keys.band_key("band", "shows"))  # the fix: the reclaimer's retry applies it
        await wait_settled(redis, [reply["id"]], timeout=60)
        assert (await client.stats("band")).total_shows == 1
    assert await redis.xlen(keys.DEAD_STREAM) == 0


async def test_short_script_calls_build_the_same_projection(redis: Redis) -> None:
    history = backfill(60)
    history += [perf("b3", 4, "song1", band="backfill"), show("b7", "1999-01-01", band="backfill")]  # corrections
    entries = [(f"{i + 1}-0", {b"__data__": json.dumps(e).encode()}) for i, e in enumerate(history)]
    scripts = Scripts(redis)
    built = []
    for chunk in (BULK_CHUNK, LIVE_CHUNK, 7, 1):
        await redis.flushdb()
        outcome = await apply_entries(scripts, entries, chunk=chunk)
        assert len(outcome.applied) == len(entries)
        state = await contents(redis, "ss:{backfill}:1:*")
        state.pop(keys.band_key("backfill", "stamp").encode())  # counts the script calls
        built.append(state)
    assert built[0] and all(state == built[0] for state in built[1:])


async def test_roles_split_consuming_from_answering(redis: Redis, redis_url: str) -> None:
    events = backfill(3, band="band")
    async with running(settings_for_tests(role="handlers"), redis_url):
        ids = await publish(redis, [json.dumps(e) for e in events])
        async with StatsClient(redis_url, timeout=10) as client:
            reply = await client.publish(show("late", "2001-01-01"))  # the handlers apply write-throughs
            assert reply["applied"] and (await client.stats("band")).total_shows == 1
            await asyncio.sleep(0.5)
            assert await lag(redis) == len(events) + 1  # but do not consume the stream
    async with running(settings_for_tests(role="consumer"), redis_url):
        await wait_settled(redis, [*ids, reply["id"]], timeout=60)
    await compare_aggregates(Queries(Scripts(redis)), Reference([*events, show("late", "2001-01-01")]), "band", AS_OF)


async def test_consumers_rest_after_each_batch_while_live(
    redis: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While write-throughs are in use, a consumer applies a script call's worth of entries
    at a time and pauses after each for as long as it took (``pace_rest``); otherwise it goes
    straight on."""
    rests = record_rests(monkeypatch)
    history = backfill(200)
    async with running(settings_for_tests(), redis_url):
        ids = await publish(redis, [json.dumps(e) for e in history[:1600]])
        await wait_settled(redis, ids, timeout=60)
        assert rests == []
        await redis.set(keys.LIVE, 1, px=60_000)  # as a write-through leaves it
        ids = await publish(redis, [json.dumps(e) for e in history[1600:]])
        await wait_settled(redis, ids, timeout=60)
    assert len(rests) >= (len(history) - 1600) // LIVE_CHUNK and all(seconds > 0 for seconds in rests)
    ref = Reference(history)
    await compare_aggregates(Queries(Scripts(redis)), ref, "backfill", AS_OF)


@pytest.mark.parametrize("live", [True, False], ids=["live", "questions-only"])
async def test_a_consumer_gives_way_to_what_its_process_serves(
    redis: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch, live: bool
) -> None:
    """While write-throughs are in use (``live``), or only while its own process answers
    questions, a consumer starts a script call only once that process has no answer or
    write-through under way (``Pacing.turn``), and waits for that at most
    ``pace_wait_max``: a backlog waits while an answer is under way, goes on once none is, and
    still moves while answers never stop. ``pace_served_window`` after the last answer, with no
    write-through, it goes straight on again."""
    first, second, third = (
        backfill(20, band=band, seed=seed) for band, seed in (("first", 3), ("second", 4), ("third", 5))
    )
    rests = record_rests(monkeypatch)
    # claim_idle_ms: the entries the consumer holds back are not reclaimed meanwhile
    settings = settings_for_tests(claim_idle_ms=60_000, pace_wait_max=3.0, pace_served_window=0.3)
    async with running(settings, redis_url) as app:
        service: Service = app.context.get("service")
        if live:
            await redis.set(keys.LIVE, 1, px=60_000)  # as a write-through leaves it
        with service.serving():
            ids = await append_at_once(redis, first)
            await asyncio.sleep(1.5)
            assert not await redis.sismember(keys.BANDS, "first")  # nothing applied meanwhile
            assert await lag(redis) + int((await redis.xinfo_groups(keys.EVENTS_STREAM))[0]["pending"]) == len(ids)
        await wait_settled(redis, ids, timeout=2.5)  # sooner than pace_wait_max: it went on once idle
        service.pacing.wait_max = 0.05
        with service.serving():  # under way all along: each script call waits pace_wait_max
            await wait_settled(redis, await append_at_once(redis, second), timeout=30)
        await asyncio.sleep(0.5)
        rests.clear()
        await wait_settled(redis, await append_at_once(redis, third), timeout=30)
        assert bool(rests) is live  # without write-throughs, whole batches again
    ref = Reference([*first, *second, *third])
    for band in ("first", "second", "third"):
        await compare_aggregates(Queries(Scripts(redis)), ref, band, AS_OF)


async def test_live_events_in_the_stream_do_not_wait_for_the_questions_asked_about_them(
    redis: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events arriving in the stream one by one (a read of at most ``pace_live_batch``) are the
    live events the questions asked meanwhile wait for: the consumer applies each at once,
    even while its process is answering (it gives way to those questions only with a
    backfill)."""
    tonight = backfill(1, band="tonight")[:6]
    async with running(settings_for_tests(claim_idle_ms=60_000, pace_wait_max=5.0), redis_url) as app:
        service: Service = app.context.get("service")
        await redis.set(keys.LIVE, 1, px=60_000)
        with service.serving():
            for event in tonight:
                await wait_settled(redis, await publish(redis, [json.dumps(event)]), timeout=2.0)
    await compare_aggregates(Queries(Scripts(redis)), Reference(tonight), "tonight", AS_OF)


async def evalsha_calls(redis: Redis) -> int:
    return int((await redis.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0))


@pytest.mark.parametrize("path", ["write-through", "stream", "split"])
async def test_questions_asked_before_a_live_event_are_ready_after_it(redis: Redis, redis_url: str, path: str) -> None:
    """After a live event (a write-through, or one event appended to the stream and applied
    by the consumer of a one-process serve, or by a consumer process beside a handlers
    process: "split"), the process answering questions answers the band's recently asked
    questions again (``refresh_delay`` later): asked next, each comes from the cache, with
    the change."""
    history = backfill(30, band="live")
    asked: list[tuple[str, dict[str, Any]]] = [
        ("gaps", {"band": "live", "as_of": AS_OF}),
        ("velocity", {"band": "live", "as_of": AS_OF, "limit": 5}),
        ("bustouts", {"band": "live", "as_of": AS_OF, "unit": "shows", "gap_threshold": 3}),
        ("song", {"band": "live", "song_id": "song1", "as_of": AS_OF}),
    ]
    roles = ["handlers", "consumer"] if path == "split" else ["all"]
    async with AsyncExitStack() as stack:
        apps = [await stack.enter_async_context(running(settings_for_tests(role=r), redis_url)) for r in roles]
        queries = apps[0].context.get("service").queries
        await wait_settled(redis, await publish(redis, [json.dumps(e) for e in history]), timeout=60)
        async with StatsClient(redis_url, timeout=10) as client:
            before = [await client.query(name, **params) for name, params in asked]
            played = perf("b29", 16, "song1", band="live")  # a play at the last show
            if path == "write-through":
                assert (await client.publish(played))["applied"] is True
            else:
                await wait_settled(redis, await publish(redis, [json.dumps(played)]), timeout=30)
            stamp = await redis.get(keys.band_key("live", "stamp"))
            for _ in range(100):  # until the refresh has answered every question under the new stamp
                await asyncio.sleep(0.05)
                if sum(stamps == (("live", stamp),) for _, stamps, _ in queries._cache) >= len(asked):
                    break
            calls = await evalsha_calls(redis)
            after = [await client.query(name, **params) for name, params in asked]
            assert await evalsha_calls(redis) == calls  # every answer was ready: no script ran
    assert after[3]["total_plays"] == before[3]["total_plays"] + 1
    fresh = Queries(Scripts(redis))
    assert after == [await fresh.answer(name, params) for name, params in asked]
