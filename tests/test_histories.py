"""The real histories through the real consumer, every query against the batch reference."""

from __future__ import annotations

import random

import datasets
import pytest
from compare import compare_aggregates, compare_details
from conftest import TODAY, ingest, shared_data
from redis.asyncio import Redis
from reference import Reference

from projections.queries import Queries

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
