"""The scripts themselves, one contract on two backends: fakeredis (fast) and the real server."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import AsyncIterator

import fakeredis
import pytest
from compare import assert_indexes
from factory import perf, perf_removed, show, show_removed
from redis.asyncio import Redis
from reference import Reference
from test_edges import EDGE_LOG

from projections import keys
from projections import scripts as scripts_module
from projections.batch import apply_entries
from projections.contract import GapsParams, QueryError
from projections.queries import Queries
from projections.scripts import Scripts, _read


@pytest.fixture(params=["fakeredis", "redis-server"])
async def backend(request: pytest.FixtureRequest, redis: Redis) -> AsyncIterator[Redis]:
    if request.param == "redis-server":
        yield redis
        return
    client: Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    try:
        yield client
    finally:
        await client.aclose()


def entries(events: list[dict], start: int = 1) -> list[tuple[str, dict[bytes, bytes]]]:
    return [(f"{start + i}-0", {b"__data__": json.dumps(e).encode()}) for i, e in enumerate(events)]


def test_the_scripts_constants_are_those_of_the_key_layout() -> None:
    header = scripts_module.header()
    assert f"local HIATUS, REGULAR = {keys.HIATUS_DAYS}, {keys.REGULAR_PLAYS}\n" in header
    assert f"local SHOWKEY_ID = {keys.SHOWKEY_ID + 1} " in header
    lua = _read("lib") + _read("plays")
    assert not re.search(r"^local (HIATUS|REGULAR|SHOWKEY_ID)\b", lua, re.M)  # defined once, in keys
    assert "18" not in re.findall(r"string\.sub\(sk, (\d+)\)", lua)
    assert GapsParams(band="b").min_plays == keys.REGULAR_PLAYS  # what the index is for


async def test_ordinal_days_match_python(backend: Redis) -> None:
    rng = random.Random(3)
    dates = ["1000-01-01", "1600-02-29", "1900-03-01", "2000-02-29", "2000-03-01", "2024-12-31", "9999-12-31"]
    dates += [(dt.date(1000, 1, 1) + dt.timedelta(days=rng.randrange(3_000_000))).isoformat() for _ in range(60)]
    events = [e for i, d in enumerate(dates) for e in (show(f"s{i}", d), perf(f"s{i}", 1, f"song{i}"))]
    outcome = await apply_entries(Scripts(backend), entries(events))
    assert not outcome.failed, outcome.errors
    for i, d in enumerate(dates):
        assert await backend.zscore(keys.band_key("band", "first"), f"song{i}") == dt.date.fromisoformat(d).toordinal()


async def test_edge_log_matches_reference(backend: Redis) -> None:
    scripts = Scripts(backend)
    await apply_entries(scripts, entries(EDGE_LOG))
    ref, queries = Reference(EDGE_LOG), Queries(scripts)
    from compare import compare_aggregates, compare_details

    await compare_aggregates(queries, ref, "band", "2030-01-01")
    await compare_details(queries, ref, "band", "2030-01-01")


async def test_a_song_leaves_the_regulars_when_removals_take_its_plays_under_theirs(backend: Redis) -> None:
    scripts = Scripts(backend)
    queries = Queries(scripts)
    log = [e for i in range(6) for e in (show(f"s{i}", f"2020-01-0{i + 1}"), perf(f"s{i}", 1, "often"))]
    log += [show("t", "2020-02-01"), perf("t", 1, "once")]
    await apply_entries(scripts, entries(log))
    regular = []  # after each removal: is the song in the index of regulars?
    for removal in (perf_removed("s5", 1), show_removed("s4"), perf_removed("s3", 1)):
        log.append(removal)
        await apply_entries(scripts, entries([removal], start=len(log)))
        await assert_indexes(backend, "band")
        regular.append(await backend.zscore(keys.band_key("band", "regulars"), "often") is not None)
        answer = await queries.answer("gaps", {"band": "band", "as_of": "2030-01-01"})
        assert answer == Reference(log).gaps("band", "2030-01-01")
    assert regular == [True, False, False]  # 5 plays, then 4, then 3


async def test_bustouts_by_shows_finds_long_gaps_in_shows_played_within_days(backend: Redis) -> None:
    """A gap of many shows within a few days (several shows a day): no stretch of the index
    of long stretches holds it, so the scan of shows must reach the play before it."""
    scripts = Scripts(backend)
    day = dt.date(2020, 1, 1)
    log = []
    for i in range(300):  # five shows a day for 60 days
        show_id = f"s{i:03d}"
        log += [show(show_id, (day + dt.timedelta(days=i // 5)).isoformat(), show_order=i % 5 + 1)]
        log += [perf(show_id, 1, "every"), perf(show_id, 2, f"once{i}")]
        if i in (10, 280):
            log.append(perf(show_id, 3, "twice"))
    await apply_entries(scripts, entries(log))
    params = {"band": "band", "as_of": "2020-03-01", "days": 10, "unit": "shows", "gap_threshold": 200}
    answer = await Queries(scripts).answer("bustouts", params)
    assert [(b["song_id"], b["gap_shows"], b["gap_days"]) for b in answer["bustouts"]] == [("twice", 270, 54)]
    assert answer == Reference(log).bustouts("band", "2020-03-01", 10, 200, "shows")


async def test_reapplying_changes_nothing(backend: Redis) -> None:
    scripts = Scripts(backend)
    log = entries(EDGE_LOG)
    first = await apply_entries(scripts, log)
    assert len(first.applied) == len(log)

    async def dump() -> dict[bytes, bytes | None]:
        return {k: await backend.dump(k) for k in sorted(await backend.keys("ss:{band}:1:*"))}

    before = await dump()
    assert await scripts.apply("band", []) == 0
    await apply_entries(scripts, log)
    shuffled = log[::-1] + log[::2]
    random.Random(5).shuffle(shuffled)
    await apply_entries(scripts, shuffled)
    assert await dump() == before


async def test_every_key_of_a_band_shares_one_hash_slot(backend: Redis) -> None:
    await apply_entries(Scripts(backend), entries(EDGE_LOG))
    written = [k.decode() for k in await backend.keys("ss:{band}:1:*")]
    assert written and all(k.startswith("ss:{band}:1:") for k in written)
    assert set(written) <= set(keys.band_keys("band"))


async def test_cached_answers_follow_every_change_even_an_older_event(backend: Redis) -> None:
    """Answers are cached under the band's change stamp; a late event older than everything
    applied still changes the state, so it must bump the stamp too."""
    scripts = Scripts(backend)
    queries = Queries(scripts)
    later = [show("s2", "2001-02-01"), perf("s2", 1, "a")]
    await apply_entries(scripts, entries(later, start=10))
    params = {"band": "band", "song_id": "a", "as_of": "2030-01-01"}
    assert (await queries.answer("song", params))["total_plays"] == 1
    assert (await queries.answer("song", params))["total_plays"] == 1  # from the cache
    await apply_entries(scripts, entries([show("s1", "2001-01-01"), perf("s1", 1, "a")], start=1))
    answer = await queries.answer("song", params)
    assert [p["gap_shows"] for p in answer["plays"]] == [None, 1]
    await apply_entries(scripts, entries([show("s1", "2001-01-01"), perf("s1", 1, "a")], start=1))  # no change
    assert await queries.answer("song", params) == answer


async def test_a_song_title_from_a_performance_superseded_at_its_slot_still_refreshes_cached_answers(
    backend: Redis,
) -> None:
    """A song's title is that of its last appended PerformanceAdded, even one whose slot was
    removed later in the log: applied after the removal, it changes only the title, and
    must bump the stamp all the same."""
    scripts = Scripts(backend)
    queries = Queries(scripts)
    log = [show("s1", "2001-01-01"), perf("s1", 1, "a", title="One"), show("s2", "2001-02-01")]
    log += [perf("s2", 1, "a", title="One"), perf("s1", 1, "a", title="Two"), perf_removed("s1", 1)]
    numbered = entries(log)
    await apply_entries(scripts, numbered[:4] + numbered[5:])  # the title "Two" not applied yet
    params = {"band": "band", "song_id": "a", "as_of": "2030-01-01"}
    assert (await queries.answer("song", params))["song_title"] == "One"
    await apply_entries(scripts, numbered[4:5])  # its slot removed since: the title alone
    assert (await queries.answer("song", params)) == Reference(log).song("band", "a", "2030-01-01")
    assert (await queries.answer("song", params))["song_title"] == "Two"


async def test_a_band_name_from_a_superseded_show_event_still_refreshes_cached_answers(backend: Redis) -> None:
    """The band name is the last appended one, even when that event's show was removed
    later in the log: applying it changes the name, so it must bump the stamp too."""
    scripts = Scripts(backend)
    queries = Queries(scripts)
    first = {"type": "ShowRemoved", "event_id": "rm", "band": "band", "show_id": "s1"}
    await apply_entries(scripts, entries([show("s1", "2001-01-01", band_name="Old"), show("s2", "2001-02-01")]))
    await apply_entries(scripts, entries([first], start=3))
    as_of = {"band": "band", "as_of": "2030-01-01"}
    assert (await queries.answer("stats", as_of))["vertical_name"] == "Old"
    assert [b["band_name"] for b in await queries.answer("bands", {"as_of": "2030-01-01"})] == ["Old"]
    # appended before the removal, applied after it: the show stays removed, the name changes
    await apply_entries(scripts, entries([show("s1", "2001-01-01", band_name="New")], start=2))
    assert (await queries.answer("stats", as_of))["vertical_name"] == "New"
    assert [b["band_name"] for b in await queries.answer("bands", {"as_of": "2030-01-01"})] == ["New"]


async def test_bands_follows_bands_added_and_changed_after_it_was_asked(backend: Redis) -> None:
    """``bands`` reads every band's stamp with the band list in one round trip when the list
    is the one it saw last: a band added since, and a change to a band it knew, both show."""
    scripts = Scripts(backend)
    queries = Queries(scripts)
    as_of = {"as_of": "2030-01-01"}
    await apply_entries(scripts, entries([show("s1", "2001-01-01")]))
    assert [(b["band"], b["total_shows"]) for b in await queries.answer("bands", as_of)] == [("band", 1)]
    await apply_entries(scripts, entries([show("t1", "2002-01-01", band="other")], start=2))
    assert [(b["band"], b["total_shows"]) for b in await queries.answer("bands", as_of)] == [("band", 1), ("other", 1)]
    await apply_entries(scripts, entries([show("t2", "2002-02-01", band="other")], start=3))
    assert [(b["band"], b["total_shows"]) for b in await queries.answer("bands", as_of)] == [("band", 1), ("other", 2)]


async def test_scripts_flushed_from_redis_are_loaded_again(backend: Redis) -> None:
    """Pipelined script calls skip redis-py's SCRIPT EXISTS; after a SCRIPT FLUSH (or a
    restart) applying and the pipelined `bands` still work, the scripts loaded again."""
    scripts = Scripts(backend)
    queries = Queries(scripts)
    outcome = await apply_entries(scripts, entries(EDGE_LOG[:4]))
    assert outcome.applied and not outcome.failed
    await backend.script_flush()
    outcome = await apply_entries(scripts, entries(EDGE_LOG, start=10))
    assert not outcome.failed, outcome.errors
    assert len(outcome.applied) == len(EDGE_LOG)
    await backend.script_flush()
    expected = Reference(EDGE_LOG).stats("band", "2030-01-01")
    assert [(b["band"], b["total_shows"]) for b in await queries.answer("bands", {})] == [
        ("band", expected["total_shows"])
    ]


QUESTIONS = [
    ("gaps", {"min_plays": 0}),
    ("velocity", {}),
    ("trends", {}),
    ("stats", {}),
    ("bustouts", {"gap_threshold": 1}),
    ("debuts", {}),
    ("song", {"song_id": "a"}),
    ("song", {"song_id": "nope"}),
    ("setlist", {"show_id": "s2"}),
    ("setlist", {"show_id": "nope"}),
]


async def answer_or_error(queries: Queries, name: str, params: dict) -> object:
    try:
        return await queries.answer(name, params)
    except QueryError as exc:
        return {"code": exc.code, "message": exc.message, "parameter": exc.parameter}


async def test_a_question_after_a_change_of_this_process_answers_as_any_other(backend: Redis) -> None:
    """After ``Queries.changed`` (a write-through) the next question of the band goes with
    its probe in one pipeline: same answers and refusals as asked the usual way, a band
    not known refused, a generation switched in between followed, and the answer cached."""
    scripts = Scripts(backend)
    await apply_entries(scripts, entries(EDGE_LOG))
    usual, probing = Queries(scripts), Queries(scripts)
    for name, params in QUESTIONS:
        body = {"band": "band", "as_of": "2030-01-01", **params}
        probing.changed("band")
        assert await answer_or_error(probing, name, body) == await answer_or_error(usual, name, body), name
    probing.changed("unknown")
    with pytest.raises(QueryError, match="Band not found"):
        await probing.answer("stats", {"band": "unknown"})
    # a rebuild switched to generation 2 (one show only) since this process last probed
    await apply_entries(scripts, entries(EDGE_LOG[:2]), generations=[2])
    await backend.hset(keys.GENERATION, "current", 2)
    probing.changed("band")
    assert (await probing.answer("stats", {"band": "band"}))["total_shows"] == 1
    probing.changed("band")
    first = await probing.answer("song", {"band": "band", "song_id": "a", "as_of": "2030-01-01"})
    await backend.hset(keys.band_key("band", "songs", 2), "a", b"not json: a cached answer is not read again")
    assert await probing.answer("song", {"band": "band", "song_id": "a", "as_of": "2030-01-01"}) == first
