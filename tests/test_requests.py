"""Queries over FastStream request/reply: answers, and a clear error for every bad request."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import msgspec
import pytest
from conftest import ingest
from factory import perf, show
from fast_depends.msgspec import MsgSpecSerializer
from faststream.redis import RedisBroker
from redis.asyncio import Redis

from projections.contract import GapRow, QueryError, Stats, StatsParams
from projections.queries import Queries
from projections.scripts import Scripts
from service.app import QUERY_SUBJECT, query_subject
from service.client import StatsClient

EVENTS = [show("s1", "2001-01-01", band_name="Band"), perf("s1", 1, "a"), show("s2", "2001-02-01"), perf("s2", 1, "a")]

BAD = [
    ("gaps", {"min_plays": -1}, "min_plays", "an integer >= 0"),
    ("gaps", {"min_plays": "5"}, "min_plays", "an integer >= 0"),
    ("gaps", {"min_plays": True}, "min_plays", "an integer >= 0"),
    ("gaps", {"limit": 0}, "limit", "from 1 to 200"),
    ("gaps", {"limit": 201}, "limit", "from 1 to 200"),
    ("gaps", {"limit": 2.5}, "limit", "from 1 to 200"),
    ("gaps", {"sort": "plays"}, "sort", "days, shows"),
    ("gaps", {"as_of": "2024-13-01"}, "as_of", "YYYY-MM-DD"),
    ("gaps", {"as_of": "yesterday"}, "as_of", "YYYY-MM-DD"),
    ("gaps", {"as_of": 20240101}, "as_of", "YYYY-MM-DD"),
    ("gaps", {"colour": "red"}, "colour", "allowed: band, min_plays, limit, sort, as_of"),
    ("velocity", {"limit": -3}, "limit", "from 1 to 200"),
    ("trends", {"period": "week"}, "period", "month, quarter, year"),
    ("bustouts", {"days": -1}, "days", "an integer >= 0"),
    ("bustouts", {"gap_threshold": -5}, "gap_threshold", "an integer >= 0"),
    ("bustouts", {"unit": "years"}, "unit", "days, shows"),
    ("debuts", {"days": "365"}, "days", "an integer >= 0"),
    ("song", {}, "song_id", "required"),
    ("song", {"song_id": "tab\there"}, "song_id", "a song id"),
    ("setlist", {}, "show_id", "required"),
    ("setlist", {"show_id": ["x"]}, "show_id", "a show id"),
    ("stats", {"band": "Not A Slug"}, "band", "a band slug"),
    ("stats", {"band": None}, "band", "required"),
]


@pytest.fixture
async def client(redis: Redis, redis_url: str, service: Queries) -> Any:
    await ingest(redis, EVENTS)
    async with StatsClient(redis_url, timeout=10) as c:
        yield c


@pytest.mark.parametrize(("query", "params", "parameter", "allowed"), BAD)
async def test_bad_parameters_get_an_error_naming_them(
    client: StatsClient, query: str, params: dict[str, Any], parameter: str, allowed: str
) -> None:
    with pytest.raises(QueryError) as info:
        await client.query(query, **{"band": "band", **params})
    assert info.value.code == "invalid_parameter"
    assert info.value.parameter == parameter
    assert parameter in info.value.message and allowed in info.value.message


async def test_answers_and_not_found_over_request_reply(client: StatsClient) -> None:
    gaps = await client.gaps("band", as_of="2001-03-01", min_plays=1)
    assert [(g.song_id, g.total_plays, g.days_since_played) for g in gaps] == [("a", 2, 28)]
    assert all(isinstance(g, GapRow) for g in gaps)
    stats = await client.ask(StatsParams(band="band", as_of=dt.date(2001, 3, 1)))
    assert isinstance(stats, Stats) and stats.vertical_name == "Band" and stats.total_shows == 2
    assert [b.band for b in await client.bands()] == ["band"]
    song = await client.song("band", "a", as_of="2001-03-01")
    assert [(p.date, p.gap_shows) for p in song.plays] == [("2001-01-01", None), ("2001-02-01", 1)]
    assert msgspec.to_builtins(gaps) == await client.query("gaps", band="band", as_of="2001-03-01", min_plays=1)
    for call, message in [
        (client.stats("nope"), "Band not found"),
        (client.query("stats", band="nope"), "Band not found"),
        (client.song("band", "zz"), "Song not found"),
        (client.setlist("band", "zz"), "Show not found"),
    ]:
        with pytest.raises(QueryError, match=message):
            await call
    with pytest.raises(QueryError, match="unknown query 'overdue'"):
        await client.query("overdue", band="band")


async def test_malformed_requests_and_the_handlers_keep_serving(redis_url: str, client: StatsClient) -> None:
    broker = RedisBroker(redis_url, serializer=MsgSpecSerializer())
    async with broker:
        for subject, body in [
            (query_subject("gaps"), b"\xff not json"),
            (query_subject("gaps"), [1, 2]),
            (QUERY_SUBJECT, {"query": "overdue", "params": {}}),
            (QUERY_SUBJECT, "gaps"),
        ]:
            reply = await (await broker.request(body, channel=subject, timeout=10)).decode()
            assert reply["ok"] is False and reply["error"]["message"], reply
        reply = await (
            await broker.request(
                {"query": "stats", "params": {"band": "band", "as_of": "2001-03-01"}}, channel=QUERY_SUBJECT, timeout=10
            )
        ).decode()
        assert reply["ok"] and reply["result"]["total_shows"] == 2
    assert (await client.stats("band", as_of="2001-03-01")).total_performances == 2


async def test_concurrent_requests_each_get_their_own_reply(redis_url: str, client: StatsClient) -> None:
    """One client's replies share its reply channel: each is matched to its request (by
    correlation id), whatever order they come back in, and two clients asking at once each get theirs."""
    as_of = ["2001-01-01", "2001-01-15", "2001-02-01", "2001-03-01"]
    async with StatsClient(redis_url, timeout=10) as other:
        answers = await asyncio.gather(
            *(client.stats("band", as_of=as_of[i % 4]) for i in range(64)),
            *(other.gaps("band", as_of=as_of[i % 4], min_plays=1) for i in range(16)),
        )
    assert [a.total_shows for a in answers[:64]] == [[1, 1, 2, 2][i % 4] for i in range(64)]
    assert [[g.days_since_played for g in a] for a in answers[64:]] == [
        [[0], [14], [0], [28]][i % 4] for i in range(16)
    ]
    assert client._waiting == {} and other._waiting == {}


async def test_a_request_nobody_answers_times_out(redis: Redis, redis_url: str) -> None:
    async with StatsClient(redis_url, timeout=0.3) as client:  # no service running
        with pytest.raises(TimeoutError):
            await client.stats("band")
        assert client._waiting == {}


async def test_askers_of_one_question_at_once_share_its_computation(redis: Redis, service: Queries) -> None:
    """Sixteen askers of one question at once after a change: one script runs and all get its
    answer; a question refused is refused to all who asked it."""
    await ingest(redis, [show("s1", "2001-01-01"), perf("s1", 1, "a"), perf("s1", 2, "b")])
    await asyncio.sleep(0.5)  # the refresh after the live events has nothing to answer
    params = {"band": "band", "as_of": "2001-06-01", "min_plays": 1}

    async def evalsha_calls() -> int:
        return int((await redis.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0))

    await asyncio.gather(*(redis.ping() for _ in range(32)))  # connections ready for every asker
    calls = await evalsha_calls()
    answers = await asyncio.gather(*(service.answer("gaps", dict(params)) for _ in range(16)))
    assert await evalsha_calls() == calls + 1
    assert [row["song_id"] for row in answers[0]] == ["a", "b"] and all(a == answers[0] for a in answers)
    refused = await asyncio.gather(
        *(service.answer("setlist", {"band": "band", "show_id": "zzz"}) for _ in range(4)), return_exceptions=True
    )
    assert all(isinstance(r, QueryError) and r.code == "not_found" for r in refused), refused


async def test_a_question_asked_after_a_change_is_not_answered_from_before_it(redis: Redis, service: Queries) -> None:
    """Askers of a question new to the process share its computation only until its read has
    gone to Redis: one who asks after that, and after a change, gets an answer with the change
    (here the first computation's reply is held back until the second answer is in)."""
    await ingest(redis, [show("s1", "2001-01-01"), perf("s1", 1, "a")])
    params = {"band": "band", "as_of": "2001-06-01", "min_plays": 1}
    pipelined, read, held = service.scripts.pipelined, asyncio.Event(), asyncio.Event()

    async def slow_reply(queue: Any) -> list[Any]:
        service.scripts.pipelined = pipelined  # type: ignore[method-assign]  # the first read only
        results = await pipelined(queue)
        read.set()
        await held.wait()
        return results

    service.scripts.pipelined = slow_reply  # type: ignore[method-assign]
    first = asyncio.create_task(service.answer("gaps", dict(params)))
    await read.wait()  # its read is done; its reply is held
    await ingest(redis, [perf("s1", 2, "b")])
    after = await asyncio.wait_for(service.answer("gaps", dict(params)), 10)
    held.set()
    assert sorted(row["song_id"] for row in after) == ["a", "b"]
    assert [row["song_id"] for row in await first] == ["a"]


async def test_closing_ends_the_computations_whose_askers_are_gone(redis: Redis, service: Queries) -> None:
    """A computation outlives an asker who gives up (others may await it); when the process
    stops, ``close`` ends it, so that it reads nothing through a client about to be closed."""
    await ingest(redis, [show("s1", "2001-01-01"), perf("s1", 1, "a")])
    queries = Queries(Scripts(redis))
    pipelined, read, ended = queries.scripts.pipelined, asyncio.Event(), asyncio.Event()

    async def held_reply(queue: Any) -> list[Any]:
        results = await pipelined(queue)
        read.set()
        try:
            await asyncio.Event().wait()  # a reply that never comes
        finally:
            ended.set()
        return results

    queries.scripts.pipelined = held_reply  # type: ignore[method-assign]
    asker = asyncio.create_task(queries.answer("gaps", {"band": "band", "as_of": "2001-06-01"}))
    await read.wait()
    asker.cancel()
    await asyncio.sleep(0.05)
    assert not ended.is_set()  # the computation goes on without its asker
    await asyncio.wait_for(queries.close(), 5)
    assert ended.is_set()
