"""Incremental equals batch: random small histories with corrections, published in random
orders with random duplicates, through a real consumer process; and the same logs applied in
random processing orders. Every query at a random as_of equals the batch reference."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from compare import assert_indexes, compare_aggregates, compare_details
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from reference import Reference
from reference_highlights import highlights

from projections import keys
from projections.batch import apply_entries
from projections.highlights import Highlight, Highlighting, decode
from projections.queries import Queries
from projections.scripts import Scripts
from service.ingest import publish, wait_settled

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "60"))
DATES = ("2001-01-01", "2001-01-01", "2001-03-15", "2001-03-16", "2001-07-04", "2002-02-02", "2004-09-09")
_ids = itertools.count()
# highlights: a window holding some of DATES, thresholds the small histories reach
HIGHLIGHT_ENV = {
    "HIGHLIGHT_TODAY": "2001-03-15",
    "HIGHLIGHT_DAYS": "2",
    "HIGHLIGHT_BUSTOUT_SHOWS": "2",
    "HIGHLIGHT_BUSTOUT_DAYS": "60",
}
HIGHLIGHTING = Highlighting(days=2, bustout_shows=2, bustout_days=60, today=lambda: dt.date(2001, 3, 15))
WINDOW = ("2001-03-13", "2001-03-17")

# ids as real sources have them: spaces, punctuation that the stored escape (keys.stored)
# rewrites and whose order it must keep (" " < "!" < '"' < "#"), hash-tag braces, colons,
# other scripts, emoji, and the longest allowed
show_id = st.sampled_from(("s 1", "s!1", 's"1', "s#{1}:|"))
position = st.integers(1, 5)
counts = st.sampled_from((True, True, True, True, False))

show_recorded = st.fixed_dictionaries(
    {
        "type": st.just("ShowRecorded"),
        "show_id": show_id,
        "date": st.sampled_from(DATES),
        "show_order": st.integers(1, 2),
        "counts_for_stats": counts,
        "band_name": st.sampled_from(("One", "Two")),
        "venue": st.sampled_from(("V1", "V2")),
    }
)
performance_added = st.fixed_dictionaries(
    {
        "type": st.just("PerformanceAdded"),
        "show_id": show_id,
        "position": position,
        "set": st.sampled_from(("1", "1", "2", "e", "s")),
        "song_id": st.sampled_from(("a", "señor-mouse", '🎸 {b}:"c"', "ж" * 200)),
        "song_title": st.sampled_from(("Song", "Song (live)")),
        "counts_for_stats": counts,
        "transition": st.sampled_from((None, ",", ">")),
        "is_reprise": st.booleans(),
    }
)
performance_removed = st.fixed_dictionaries(
    {"type": st.just("PerformanceRemoved"), "show_id": show_id, "position": position}
)
show_removed = st.fixed_dictionaries({"type": st.just("ShowRemoved"), "show_id": show_id})
event = st.one_of(
    show_recorded,
    show_recorded,
    performance_added,
    performance_added,
    performance_added,
    performance_removed,
    show_removed,
    show_removed,
)


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int], str]:
    """A log of events for two bands (with copies of some), a processing order, and an as_of."""
    events = []
    for e in draw(st.lists(st.tuples(st.sampled_from(("x", "x", "x", "y")), event), min_size=1, max_size=45)):
        band, body = e
        events.append({**body, "band": band, "event_id": f"ev{next(_ids)}"})
    for index, at in draw(
        st.lists(st.tuples(st.integers(0, len(events) - 1), st.integers(0, len(events))), max_size=8)
    ):
        events.insert(at, events[index])  # a copy appended elsewhere in the log
    order = draw(st.permutations(range(len(events))))
    as_of = draw(st.sampled_from((*DATES, "2000-12-31", "2001-02-01", "2003-01-01", "2030-01-01")))
    return events, list(order), as_of


def renamed(events: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [{**e, "band": f"{prefix}-{e['band']}"} for e in events]


@pytest.fixture(scope="module")
def consumer(redis_url: str) -> Iterator[str]:
    sync_redis.Redis.from_url(redis_url).flushdb()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(REDIS_URL=redis_url, CONSUMER_NAME="property", LOG_LEVEL="WARNING", **HIGHLIGHT_ENV)
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield redis_url
    finally:
        process.terminate()
        process.wait(30)


async def _check(url: str, events: list[dict[str, Any]], order: list[int], as_of: str, n: int) -> None:
    redis = Redis.from_url(url)
    try:
        scripts = Scripts(redis)
        queries = Queries(scripts)
        # 1. published in this log order (copies included) through the real consumer
        published = renamed(events, f"p{n}")
        ids = await publish(redis, [json.dumps(e) for e in published])
        settled = await wait_settled(redis, ids, timeout=60)
        assert settled.dead == 0, settled.reasons
        # 2. the same log (fixed entry ids) applied in other processing orders (the drawn
        #    permutation, the reverse of the log, and two more shuffles), each in script calls
        #    of random sizes, from one event to all of them
        rng = random.Random(n)
        orders = [order, list(range(len(events)))[::-1], rng.sample(order, len(order)), rng.sample(order, len(order))]
        logs_ = [published]
        for k, processing in enumerate(orders):
            permuted = renamed(events, f"q{n}-{k}")
            entries = [(f"{i + 1}-0", {b"__data__": json.dumps(e).encode()}) for i, e in enumerate(permuted)]
            shuffled = [entries[i] for i in processing]
            start = 0
            unacked: list[Any] = []  # calls that crashed between their apply and their highlights
            while start < len(shuffled):
                size = rng.choice((1, 2, 3, len(shuffled)))
                part = shuffled[start : start + size]
                crashed = rng.random() < 0.3  # now and then
                outcome = await apply_entries(scripts, part, highlighting=None if crashed else HIGHLIGHTING)
                assert not outcome.failed, outcome.errors
                if crashed:
                    unacked.append(part)
                if unacked and rng.random() < 0.5:  # delivered again, later (reclaimed)
                    await apply_entries(scripts, unacked.pop(0), highlighting=HIGHLIGHTING)
                start += size
            for part in unacked:  # whatever is still pending is reclaimed in the end
                await apply_entries(scripts, part, highlighting=HIGHLIGHTING)
            logs_.append(permuted)
        for k, log in enumerate(logs_):  # 0: through the consumer; then the processing orders
            ref = Reference(log)
            for band in ref.bands:
                try:
                    await assert_indexes(redis, band)
                    await compare_aggregates(queries, ref, band, as_of, all_bands=False)
                    await compare_details(queries, ref, band, as_of)
                    await assert_highlights(redis, ref, band)
                except Exception as exc:
                    exc.add_note(f"log {k} ({'through the consumer' if k == 0 else 'applied directly'}), band {band}")
                    raise
    finally:
        await redis.aclose()


async def assert_highlights(redis: Redis, ref: Reference, band: str) -> None:
    """Each highlight pushed once (again only after a retraction), and those standing equal
    the reference's for the final state."""
    standing: dict[str, bool] = {}
    for _, fields in await redis.xrange(keys.HIGHLIGHTS):
        h = decode(fields[b"__data__"])
        if h.band != band:
            continue
        if isinstance(h, Highlight):
            assert not standing.get(h.id), f"{h.id} pushed twice"
            standing[h.id] = True
        else:
            assert standing.get(h.id), f"{h.id} retracted but not standing"
            standing[h.id] = False
    expected = highlights(ref, band, *WINDOW, bustout_shows=2, bustout_days=60)
    assert {i for i, up in standing.items() if up} == set(expected)


_examples = itertools.count()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(logs())
def test_incremental_equals_batch(consumer: str, log: tuple[list[dict[str, Any]], list[int], str]) -> None:
    events, order, as_of = log
    asyncio.run(_check(consumer, events, order, as_of, next(_examples)))
