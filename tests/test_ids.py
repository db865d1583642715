"""Ids as real histories have them (any script, emoji, spaces, punctuation, braces, colons,
slashes, up to the limit) through the whole path: events -> consumer -> projections -> every
query, asked directly and over HTTP; none dead-lettered, none colliding with another, every
key of a band in its hash slot."""

from __future__ import annotations

import random

import datasets
import httpx
import pytest
from compare import OverHttp, compare_aggregates, compare_details
from conftest import ingest, shared_data
from factory import perf, show
from redis.asyncio import Redis
from redis.crc import key_slot
from reference import Reference

from projections import keys
from projections.events import ID_MAX, TEXT_MAX
from projections.queries import Queries

LONGEST = "é" * (ID_MAX - 1) + "!"
SONGS = [
    "señor-mouse",
    "a b",  # and the id its stored form would be, unescaped
    'a""b',
    "x:y",
    "x",
    "{band}",
    "}{",
    "a/b",
    "50% ?#&=+|",
    "🎸 guitar 🥁",
    "Ἀπόλλων",
    "東京 ブギウギ",
    "دستگاه",
    "!bang",
    '"quoted"',
    "trailing space ",
    LONGEST,
    "a" * 71,  # the slug of a real 70-character title
]
SHOWS = ["1999-12-31 Big Cypress", "show:{1}", "show:{1} ", "a/b?c#d", "a|b", "ж" * ID_MAX, '"', "||", "🎪"]


def history(band: str = "ids") -> list[dict]:
    events = []
    dates = [
        "1999-12-31",
        "2005-01-01",
        "1999-12-31",
        "1999-12-31",
        "2000-06-01",
        "2001-01-01",
        "2001-01-01",
        "2003-07-04",
        "2004-08-15",
    ]
    for n, (show_id, date) in enumerate(zip(SHOWS, dates, strict=True)):
        events.append(show(show_id, date, band=band, venue="V" * TEXT_MAX, band_name="Ünïcode Band " + "β" * 400))
        for position in range(1, 9):
            song = SONGS[(n * 5 + position * 3) % len(SONGS)]
            events.append(perf(show_id, position, song, band=band, title=f"{song} ({len(song)})"))
    return events


async def test_every_query_with_real_world_ids(redis: Redis, http: httpx.AsyncClient) -> None:
    events = history()
    settled = await ingest(redis, events)
    assert (settled.applied, settled.dead, settled.reasons) == (len(events), 0, {})
    ref = Reference(events)
    assert set(ref.bands["ids"].titles) == set(SONGS)  # every song is played, none merged
    for as_of in ("1999-12-31", "2001-01-01", "2030-01-01"):
        await compare_aggregates(OverHttp(http), ref, "ids", as_of)
        await compare_details(OverHttp(http), ref, "ids", as_of)


async def test_every_key_of_a_band_in_its_hash_slot(redis: Redis, http: httpx.AsyncClient) -> None:
    events = history("slots")
    await ingest(redis, events)
    band_keys = [k async for k in redis.scan_iter(match=b"ss:{slots}:*", count=1000)]
    outside = {keys.pushed_key("slots"), keys.outbox_key("slots")}  # outside the generations
    assert set(band_keys) <= {k.encode() for k in [*keys.band_keys("slots"), *outside]}
    shows = await redis.hkeys(keys.band_key("slots", "slots"))
    songs = await redis.hkeys(keys.band_key("slots", "plays"))
    assert {keys.unstored(s) for s in shows} == set(SHOWS) and len(shows) == len(SHOWS)  # the escape is one-to-one
    assert {keys.unstored(s) for s in songs} == set(SONGS) and len(songs) == len(SONGS)
    assert {key_slot(k) for k in band_keys} == {key_slot(b"{slots}")}


def test_the_stored_form_keeps_order_and_is_one_to_one() -> None:
    ids = sorted({*SONGS, *SHOWS, " ", "!", '"', "#", "$", ' "', '""', '"#', '"$', "a\u00a0b"})
    stored = [keys.stored(i) for i in ids]
    assert [s.encode() for s in stored] == sorted(s.encode() for s in stored)  # byte order, as Redis sorts
    assert len(set(stored)) == len(ids)
    assert all(" " not in s and min(s.encode()) > ord("!") for s in stored)
    assert [keys.unstored(s) for s in stored] == ids


@pytest.mark.slow
async def test_a_real_history_with_unicode_and_long_ids_shuffled_and_duplicated(redis: Redis, service: Queries) -> None:
    """Goose's history with song ids made of their titles, other scripts and emoji (some at the
    200-character limit) and show ids with spaces and punctuation, published shuffled with
    copies: every query equals the reference at several dates, nothing dead-lettered."""
    shared_data("goose")
    song_ids: dict[str, str] = {}
    events = []
    for e in datasets.goose():
        e = dict(e)
        if "song_id" in e:
            new = f"{e['song_title']} · ñandú 🎵 #{e['song_id']}"
            song_ids[e["song_id"]] = new if len(song_ids) % 10 else (new + " é" * ID_MAX)[:ID_MAX]
            e["song_id"] = song_ids[e["song_id"]]
        e["show_id"] = f"show {e['show_id']}: {{goose}}"
        events.append(e)
    published = events + random.Random(3).sample(events, len(events) // 10)
    random.Random(4).shuffle(published)
    settled = await ingest(redis, published)
    assert (settled.applied, settled.dead) == (len(published), 0), settled.reasons
    ref = Reference(events)
    dates = sorted({e["date"] for e in events if e["type"] == "ShowRecorded"})
    for as_of in (dates[len(dates) // 3], dates[2 * len(dates) // 3], dates[-1]):
        await compare_aggregates(service, ref, "goose", as_of)
    await compare_details(service, ref, "goose", dates[-1])
