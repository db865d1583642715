"""The real histories through the real consumer, every query against the batch reference."""

from __future__ import annotations

import json
import random
from typing import Any

import datasets
import pytest
from compare import assert_indexes, compare_aggregates, compare_details
from conftest import TODAY, ingest, shared_data
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.batch import apply_entries
from projections.queries import Queries
from projections.scripts import Scripts

pytestmark = pytest.mark.slow


def as_of_dates(events: list[dict]) -> list[str]:
    """Before the first show, inside the history, the last show, and today."""
    dates = sorted({e["date"] for e in events if e["type"] == "ShowRecorded"})
    inside = [dates[len(dates) * k // 5] for k in (1, 2, 3, 4)]
    return ["1900-01-01", *inside, dates[-1], TODAY.isoformat()]


@pytest.mark.parametrize("name", ["goose", "phish", "grateful-dead"])
async def test_history_matches_reference(name: str, redis: Redis, service: Queries) -> None:
    shared_data(datasets.FOLDERS[name])
    events = list(datasets.DATASETS[name]())
    settled = await ingest(redis, events)
    assert (settled.applied, settled.dead) == (len(events), 0), settled.reasons
    ref = Reference(events)
    dates = as_of_dates(events)
    for as_of in dates:
        await compare_aggregates(service, ref, name, as_of)
    for as_of in (dates[2], dates[-1]):
        await compare_details(service, ref, name, as_of)


async def test_phishnet_gap_parity(redis: Redis, service: Queries) -> None:
    """gap_shows of every non-debut play equals phish.net's own gap column on >= 98% of rows."""
    shared_data("phish")
    events = list(datasets.phish())
    await ingest(redis, events)
    theirs = datasets.phish_gaps()
    shows = [e["show_id"] for e in events if e["type"] == "ShowRecorded"]
    compared = same = 0
    for show_id in shows:
        try:
            setlist = await service.answer("setlist", {"band": "phish", "show_id": show_id})
        except Exception:
            continue
        for p in setlist["performances"]:
            gap = theirs.get((show_id, p["position"]))
            if p["gap_shows"] is None or gap is None:
                continue
            compared += 1
            same += p["gap_shows"] == gap
    assert compared > 35_000
    assert same / compared >= 0.98, f"{same}/{compared} = {same / compared:.4f}"


async def test_shuffled_and_duplicated_histories_give_identical_answers(redis: Redis, service: Queries) -> None:
    """All three histories in one stream, shuffled, a tenth of the events published twice."""
    names = [n for n in datasets.DATASETS if datasets.available(datasets.FOLDERS[n])]
    if not names:
        shared_data("phish")
    events = [e for n in names for e in datasets.DATASETS[n]()]
    rng = random.Random(20261124)
    published = events + rng.sample(events, len(events) // 10)
    rng.shuffle(published)
    settled = await ingest(redis, published)
    assert settled.dead == 0
    in_order = Reference(events)
    assert Reference(published).bands.keys() == in_order.bands.keys()
    for name in names:
        dates = as_of_dates(list(datasets.DATASETS[name]()))
        for as_of in (dates[2], dates[-1]):
            await compare_aggregates(service, in_order, name, as_of)
        await compare_details(service, in_order, name, dates[-1])


def year_marks(packed: bytes) -> bytes:
    """What a song's marks must be (``lua/plays.lua``): where each year of its packed plays
    begins, and how many plays come before it."""
    marks, offset, year = [], 0, b""
    for n, entry in enumerate(packed.splitlines(keepends=True)):
        if entry[:4] != year:
            year = entry[:4]
            marks.append(keys.MARK_FORMAT.encode() % (year, offset, n))
        offset += len(entry)
    return b"".join(marks)


async def assert_marks(redis: Redis, band: str) -> None:
    """Every song's marks are exactly where its years begin, with the plays before them."""
    marks = await redis.hgetall(keys.band_key(band, "marks"))
    packed = await redis.hgetall(keys.band_key(band, "plays"))
    assert len(packed) > 600 and set(marks) == set(packed)
    for song, plays in packed.items():
        assert marks[song] == year_marks(plays), song


async def assert_setlists(redis: Redis, band: str, events: list[dict[str, Any]]) -> None:
    """Every countable show with a play has its setlist: its plays' song_ids by position."""
    expected: dict[str, list[str]] = {}
    for play in Reference(events).bands[band].plays:
        expected.setdefault(play.show_id, []).append(play.song_id)
    stored = await redis.hgetall(keys.band_key(band, "setlists"))
    codes = {k.decode(): v.decode() for k, v in (await redis.hgetall(keys.band_key(band, "codes"))).items()}
    assert len(expected) > 1000
    assert {code: song for song, code in codes.items() if not song.startswith("!")} == {
        code[1:]: song for code, song in codes.items() if code.startswith("!")
    }  # one code a song, both ways
    shows = await redis.hgetall(keys.band_key(band, "shows"))

    def show_id(field: bytes) -> str:  # a show's code, or "~" and its show_id (see projections/keys.py)
        return field[1:].decode() if field.startswith(b"~") else shows[b"!" + field].decode()

    songs = {show_id(show): [codes["!" + c] for c in setlist.decode().split(" ")] for show, setlist in stored.items()}
    assert songs == expected


async def test_marks_and_setlists_follow_the_plays(redis: Redis) -> None:
    """Phish applied in order for two thirds (plays appended, new years marked), then the
    rest shuffled with a twentieth of the history again (plays inserted: strings rewritten),
    in script calls of 1 to 500 events: the marks (where each year of a song's plays begins),
    the setlists and the long stretches between plays are right after each part. Without
    the marks the answers are the same (a song without marks is read the long way) and equal
    the reference."""
    shared_data("phish")
    events = list(datasets.phish())
    rng = random.Random(3)
    cut = len(events) * 2 // 3
    tail = events[cut:] + rng.sample(events, len(events) // 20)
    rng.shuffle(tail)
    scripts = Scripts(redis)
    at = 0
    for part, applied in ((events[:cut], events[:cut]), (tail, events)):
        done = 0
        while done < len(part):
            size = rng.choice((1, 7, 100, 500))
            chunk = part[done : done + size]
            entries = [(f"{at + i + 1}-0", {b"__data__": json.dumps(e).encode()}) for i, e in enumerate(chunk)]
            outcome = await apply_entries(scripts, entries, generations=[keys.FIRST_GENERATION], chunk=size)
            assert not outcome.failed and not outcome.dead, outcome.errors
            done, at = done + len(chunk), at + len(chunk)
        await assert_marks(redis, "phish")
        await assert_setlists(redis, "phish", applied)
        await assert_indexes(redis, "phish")

    ref, service = Reference(events), Queries(scripts)
    dates = as_of_dates(events)
    for as_of in dates[1:4]:
        await compare_aggregates(service, ref, "phish", as_of)
    shows = sorted((e["date"], e["show_id"]) for e in events if e["type"] == "ShowRecorded")
    asked = [shows[len(shows) * k // 4][1] for k in (1, 2, 3)]  # setlists: each play's previous play
    answers = [await service.answer("setlist", {"band": "phish", "show_id": s}) for s in asked]
    await redis.delete(keys.band_key("phish", "marks"))
    await redis.incr(keys.band_key("phish", "stamp"))  # no answer from the cache
    for as_of in dates[1:4]:
        await compare_aggregates(service, ref, "phish", as_of)
    assert [await service.answer("setlist", {"band": "phish", "show_id": s}) for s in asked] == answers
