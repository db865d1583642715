"""Hand-written edge cases through the real consumer: exact values, and the reference agreeing."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from compare import check_reference, compare_aggregates, compare_details
from conftest import ingest
from factory import perf, perf_removed, show, show_removed
from redis.asyncio import Redis
from reference import Reference

from projections.batch import apply_entries
from projections.contract import QueryError
from projections.queries import Queries
from projections.scripts import Scripts

AS_OF = "2030-01-01"


async def song(queries: Queries, song_id: str, as_of: str = AS_OF, band: str = "band") -> dict[str, Any]:
    result: dict[str, Any] = await queries.answer("song", {"band": band, "song_id": song_id, "as_of": as_of})
    return result


async def test_repeat_within_one_show(redis: Redis, service: Queries) -> None:
    events = [
        show("s1", "2001-01-01"),
        perf("s1", 1, "a"),
        perf("s1", 2, "b"),
        perf("s1", 3, "a", is_reprise=True),
        show("s2", "2001-01-02"),
        perf("s2", 1, "a"),
    ]
    await ingest(redis, events)
    a = await song(service, "a")
    assert [p["gap_shows"] for p in a["plays"]] == [None, 0, 1]
    assert [p["gap_days"] for p in a["plays"]] == [None, 0, 1]
    assert (a["total_plays"], a["shows_played"], a["average_gap_shows"], a["average_gap_days"]) == (3, 2, 1.0, 0.5)
    setlist = await service.answer("setlist", {"band": "band", "show_id": "s1"})
    assert [(p["song_id"], p["is_debut"], p["gap_shows"], p["is_reprise"]) for p in setlist["performances"]] == [
        ("a", True, None, False),
        ("b", True, None, False),
        ("a", False, 0, True),
    ]
    await check_reference(service, events)


async def test_two_shows_on_one_date_are_ordered_by_show_order(redis: Redis, service: Queries) -> None:
    events = [
        show("late", "2001-05-05", show_order=2),
        perf("late", 1, "a"),
        show("early", "2001-05-05", show_order=1),
        perf("early", 1, "a"),
        perf("early", 2, "b"),
    ]
    await ingest(redis, events)
    a = await song(service, "a")
    assert [(p["show_id"], p["gap_shows"], p["gap_days"]) for p in a["plays"]] == [
        ("early", None, None),
        ("late", 1, 0),
    ]
    gaps = await service.answer("gaps", {"band": "band", "as_of": AS_OF, "min_plays": 1, "sort": "shows"})
    assert [(g["song_id"], g["shows_since_played"]) for g in gaps] == [("b", 1), ("a", 0)]
    await check_reference(service, events)


async def test_excluded_show_performance_and_soundcheck_do_not_count(redis: Redis, service: Queries) -> None:
    events = [
        show("s1", "2001-01-01"),
        perf("s1", 1, "a"),
        show("x", "2001-02-01", counts_for_stats=False),
        perf("x", 1, "a"),
        perf("x", 2, "rare"),
        show("s2", "2001-03-01"),
        perf("s2", 1, "a", counts_for_stats=False),
        perf("s2", 2, "check", set="s"),
        perf("s2", 3, "a"),
    ]
    await ingest(redis, events)
    a = await song(service, "a")
    assert [(p["show_id"], p["position"], p["gap_shows"]) for p in a["plays"]] == [("s1", 1, None), ("s2", 3, 1)]
    stats = await service.answer("stats", {"band": "band", "as_of": AS_OF})
    assert (stats["total_shows"], stats["total_performances"], stats["unique_songs_played"], stats["total_songs"]) == (
        2,
        2,
        1,
        3,
    )
    setlist = await service.answer("setlist", {"band": "band", "show_id": "s2"})
    assert [(p["song_id"], p["counts_for_stats"], p["gap_shows"], p["is_debut"]) for p in setlist["performances"]] == [
        ("a", False, None, False),
        ("check", True, None, False),
        ("a", True, 1, False),
    ]
    assert (await service.answer("setlist", {"band": "band", "show_id": "x"}))["counts_for_stats"] is False
    # the windows read the shows' slots: the excluded show, performance and soundcheck are no plays there either
    velocity = await service.answer("velocity", {"band": "band", "as_of": "2001-03-01"})
    assert [(v["song_id"], v["plays_last_30_days"], v["plays_last_year"], v["total_plays"]) for v in velocity] == [
        ("a", 1, 2, 2)
    ]
    bustouts = await service.answer(
        "bustouts", {"band": "band", "as_of": "2001-03-01", "gap_threshold": 0, "unit": "shows"}
    )
    assert [(b["song_id"], b["show_id"], b["gap_shows"]) for b in bustouts["bustouts"]] == [("a", "s2", 1)]
    await check_reference(service, events, also=("2001-03-01",))


async def test_performance_before_its_show_waits_for_it(redis: Redis, service: Queries) -> None:
    early = [perf("s2", 1, "a"), show("s1", "2001-01-01"), perf("s1", 1, "a")]
    await ingest(redis, early)
    assert (await song(service, "a"))["total_plays"] == 1
    with pytest.raises(QueryError, match="Show not found"):
        await service.answer("setlist", {"band": "band", "show_id": "s2"})
    late = [show("s2", "2001-01-05")]
    await ingest(redis, late)
    a = await song(service, "a")
    assert [(p["show_id"], p["gap_shows"]) for p in a["plays"]] == [("s1", None), ("s2", 1)]
    await check_reference(service, early + late)


async def test_backfilled_show_shifts_the_gaps_after_it(redis: Redis, service: Queries) -> None:
    first = [
        show("s1", "2000-01-01"),
        perf("s1", 1, "a"),
        show("s3", "2010-01-01"),
        perf("s3", 1, "a"),
        show("s4", "2011-01-01"),
        perf("s4", 1, "b"),
    ]
    await ingest(redis, first)
    assert [p["gap_shows"] for p in (await song(service, "a"))["plays"]] == [None, 1]
    backfill = [show("s2", "2005-01-01"), perf("s2", 1, "b")]
    await ingest(redis, backfill)
    a = await song(service, "a")
    assert [p["gap_shows"] for p in a["plays"]] == [None, 2]
    assert a["shows_since_played"] == 1 and a["longest_gap_shows"] == 2
    assert [p["gap_shows"] for p in (await song(service, "b"))["plays"]] == [None, 2]
    await check_reference(service, first + backfill)


async def test_redated_show_moves_its_performances(redis: Redis, service: Queries) -> None:
    events = [
        show("s1", "2001-01-01"),
        perf("s1", 1, "a"),
        show("s2", "2001-06-01"),
        perf("s2", 1, "b"),
        show("s3", "2001-09-01"),
        perf("s3", 1, "a"),
    ]
    await ingest(redis, events)
    redate = [show("s3", "2000-06-01", venue="Moved")]
    await ingest(redis, redate)
    a = await song(service, "a")
    assert [(p["show_id"], p["date"], p["gap_shows"]) for p in a["plays"]] == [
        ("s3", "2000-06-01", None),
        ("s1", "2001-01-01", 1),
    ]
    trends = await service.answer("trends", {"band": "band", "as_of": AS_OF})
    assert trends["trends"] == [
        {"period": "2000-06", "shows": 1, "performances": 1},
        {"period": "2001-01", "shows": 1, "performances": 1},
        {"period": "2001-06", "shows": 1, "performances": 1},
    ]
    assert (await service.answer("setlist", {"band": "band", "show_id": "s3"}))["venue"] == "Moved"
    await check_reference(service, events + redate)


async def test_removals_and_replacements(redis: Redis, service: Queries) -> None:
    events = [
        show("s1", "2001-01-01"),
        perf("s1", 1, "a"),
        perf("s1", 2, "b"),
        show("s2", "2001-02-01"),
        perf("s2", 1, "a"),
        perf("s2", 2, "c"),
        perf_removed("s1", 2),  # b is gone
        perf("s2", 2, "d", title="Dee"),  # the slot now holds d
        show_removed("s2"),  # s2 and its performances are gone
        perf("s2", 3, "e"),  # written after the removal: waits for s2
    ]
    await ingest(redis, events)
    stats = await service.answer("stats", {"band": "band", "as_of": AS_OF})
    assert (stats["total_shows"], stats["total_performances"], stats["unique_songs_played"]) == (1, 1, 1)
    with pytest.raises(QueryError, match="Show not found"):
        await service.answer("setlist", {"band": "band", "show_id": "s2"})
    back = [show("s2", "2001-02-02")]  # recorded again: only e, written after the removal
    await ingest(redis, back)
    setlist = await service.answer("setlist", {"band": "band", "show_id": "s2"})
    assert [(p["position"], p["song_id"]) for p in setlist["performances"]] == [(3, "e")]
    assert (await song(service, "d"))["total_plays"] == 0
    await check_reference(service, events + back)


async def test_as_of_before_the_first_show_and_unknown_names(redis: Redis, service: Queries) -> None:
    events = [show("s1", "2001-01-01", band_name="The Band"), perf("s1", 1, "a")]
    await ingest(redis, events)
    before = {"band": "band", "as_of": "2000-12-31"}
    assert await service.answer("gaps", {**before, "min_plays": 0}) == []
    assert await service.answer("velocity", before) == []
    assert (await service.answer("trends", before))["trends"] == []
    stats = await service.answer("stats", before)
    assert (stats["vertical_name"], stats["total_shows"], stats["first_show"], stats["avg_songs_per_show"]) == (
        "The Band",
        0,
        None,
        0.0,
    )
    assert (await service.answer("bustouts", before))["bustouts"] == []
    assert (await service.answer("debuts", before))["debuts"] == []
    a = await song(service, "a", as_of="2000-12-31")
    assert (a["total_plays"], a["debut_date"], a["plays"]) == (0, None, [])
    with pytest.raises(QueryError, match="Show not found"):
        await service.answer("setlist", {**before, "show_id": "s1"})
    for query, params, message in [
        ("gaps", {"band": "nope"}, "Band not found"),
        ("song", {"band": "band", "song_id": "zzz"}, "Song not found"),
        ("setlist", {"band": "band", "show_id": "zzz"}, "Show not found"),
    ]:
        with pytest.raises(QueryError, match=message) as info:
            await service.answer(query, params)
        assert info.value.code == "not_found"
    await check_reference(service, events)


EDGE_LOG = [
    show("s1", "2001-01-01"),
    perf("s1", 1, "a"),
    perf("s1", 2, "b"),
    perf("s2", 1, "a"),
    show("s2", "2001-02-01"),
    perf("s1", 2, "c"),
    show("s3", "2001-03-01", counts_for_stats=False),
    perf("s3", 1, "a"),
    show_removed("s3"),
    perf_removed("s2", 1),
    perf("s2", 1, "a", title="A again"),
    show("s1", "2000-12-01"),
    show("s3", "2001-04-01"),
    perf("s3", 2, "b"),
]


async def test_any_processing_order_converges(redis: Redis) -> None:
    """The same log (fixed entry ids) applied in random orders, with copies, gives the same answers."""
    scripts = Scripts(redis)
    queries = Queries(scripts)
    log = [(f"{1000 + i}-0", {b"__data__": json.dumps(e).encode()}) for i, e in enumerate(EDGE_LOG)]

    async def answers() -> list[Any]:
        out = []
        for name in ("gaps", "velocity", "stats", "trends", "bustouts", "debuts"):
            out.append(
                await queries.answer(
                    name, {"band": "band", "as_of": AS_OF, **({"min_plays": 0} if name == "gaps" else {})}
                )
            )
        for s in ("a", "b", "c"):
            out.append(await queries.answer("song", {"band": "band", "song_id": s, "as_of": AS_OF}))
        return out

    await apply_entries(scripts, log)
    expected = await answers()
    ref = Reference(EDGE_LOG)
    await compare_aggregates(queries, ref, "band", AS_OF)
    await compare_details(queries, ref, "band", AS_OF)
    rng = random.Random(7)
    for _ in range(40):
        await redis.flushdb()
        order = log + rng.sample(log, 5)
        rng.shuffle(order)
        cut = rng.randrange(1, len(order))
        await apply_entries(scripts, order[:cut])
        await apply_entries(scripts, order[cut:])
        assert await answers() == expected


@pytest.mark.parametrize(
    ("songs", "limit", "first"),
    [
        # read in the order of gaps 2, 1, 3: the cut (3 rows) falls on the first; the third still counts
        ((("a", "s3"), ("b", "s1"), ("c", "s2")), 3, ["early", "tie", "s3"]),
        # read in the order of gaps 1, 3, 2: the cut (4 rows) falls on the second, the shortest
        # gap so far is the first's, so the third still counts
        ((("a", "s2"), ("b", "s3"), ("c", "s1")), 4, ["early", "tie", "s2", "s3"]),
    ],
)
async def test_gaps_cut_inside_shows_of_one_date_and_show_order(
    redis: Redis, service: Queries, songs: tuple[tuple[str, str], ...], limit: int, first: list[str]
) -> None:
    """Shows sharing a date and a show order come in show_id order (a, b, c: gaps in shows 3,
    2, 1 as of the end); the songs last played at them share a score in the last-play index
    and are read in song_id order. A limit that cuts among them must still keep the longest
    gaps and their ties."""
    events = [show("p", "2001-01-01"), perf("p", 1, "early"), perf("p", 2, "tie")]
    for show_id, song_id in songs:
        events += [show(show_id, "2001-02-01", show_order=1), perf(show_id, 1, song_id)]
    events += [show("z", "2001-03-01"), perf("z", 1, "tie2"), perf("z", 2, "late")]
    await ingest(redis, events)
    ref = Reference(events)
    params = {"band": "band", "as_of": AS_OF, "min_plays": 1, "sort": "shows", "limit": limit}
    assert [row["song_id"] for row in await service.answer("gaps", params)] == first
    for limit in range(1, 8):
        for sort in ("shows", "days"):
            for as_of in (AS_OF, "2001-02-15"):
                params = {"min_plays": 1, "limit": limit, "sort": sort}
                expected = ref.gaps("band", as_of, **params)
                assert await service.answer("gaps", {"band": "band", "as_of": as_of, **params}) == expected


async def test_many_plays_at_one_show_applied_one_call_each(redis: Redis, service: Queries) -> None:
    """A song played 40 times at one show, so that its entries there outgrow the tail of its
    packed plays that the apply reads first, each performance applied by a script call of its
    own: every play there but the first is a repeat (gap 0), as when applied all at once."""
    scripts = Scripts(redis)
    long_show = "show-" + "x" * 59  # the longest show_id
    events = [show("s0", "2001-01-01"), perf("s0", 1, "a"), show(long_show, "2001-02-01")]
    events += [perf(long_show, position, "a") for position in range(1, 41)]
    events += [show("s2", "2001-03-01"), perf("s2", 1, "a")]
    for i, event in enumerate(events):
        await apply_entries(scripts, [(f"{1000 + i}-0", {b"__data__": json.dumps(event).encode()})])
    a = await song(service, "a")
    assert [p["gap_shows"] for p in a["plays"]] == [None, 1, *[0] * 39, 1]
    assert (a["total_plays"], a["shows_played"], a["average_gap_shows"]) == (42, 3, 1.0)
    await check_reference(service, events)


async def test_ties_are_ordered_by_titles_as_written(redis: Redis, service: Queries) -> None:
    """Songs tied on their gap and their velocity are ordered by title (then id), titles that
    JSON escapes (quotes, backslashes, slashes, control characters) and others alike."""
    titles = ['A"B', "A\\B", "A/B", "A\tB", "A B", "AB", "Ä", "a", "Zz", "A/"]
    events = [show("s1", "2001-01-01"), show("s2", "2002-06-01")]
    events += [perf("s1", i + 1, f"t{i}", title=title) for i, title in enumerate(titles)]
    events += [perf("s2", i + 1, f"t{i}", title=title) for i, title in enumerate(titles) if i % 2]
    await ingest(redis, events)
    gaps = await service.answer("gaps", {"band": "band", "as_of": "2001-06-01", "min_plays": 0})
    assert [g["song_title"] for g in gaps] == sorted(titles)
    velocity = await service.answer("velocity", {"band": "band", "as_of": "2010-01-01"})
    assert [v["song_title"] for v in velocity] == sorted(titles)  # every score 0
    await check_reference(service, events, also=("2001-06-01", "2002-07-01", "2010-01-01"))
