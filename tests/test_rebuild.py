"""setlist-stats rebuild: the whole log replayed into a new generation while the current one
keeps answering, events arriving meanwhile not lost, answers identical before and after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest
from compare import compare_aggregates, compare_details
from conftest import ingest
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.queries import Queries
from service.demo import history
from service.ingest import publish, wait_settled

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def histories() -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Phish + Grateful Dead to rebuild, Goose to arrive meanwhile (the demo bands without ../shared/data)."""
    if datasets.available("phish") and datasets.available("grateful-dead") and datasets.available("goose"):
        return (
            ["phish", "grateful-dead", "goose"],
            [*datasets.phish(), *datasets.grateful_dead()],
            list(datasets.goose()),
        )
    demo = history()
    first = [e for e in demo if e["band"] == "wandering-moons"]
    return ["wandering-moons", "copper-kettle"], first, [e for e in demo if e["band"] == "copper-kettle"]


async def snapshot(queries: Queries, bands: list[str]) -> list[Any]:
    out = []
    for band in bands:
        for name in ("gaps", "velocity", "trends", "stats", "bustouts", "debuts"):
            out.append(await queries.answer(name, {"band": band, "as_of": "2025-06-01"}))
    return out


async def test_rebuild_while_serving_and_ingesting(redis: Redis, redis_url: str, service: Queries) -> None:
    bands, first, meanwhile = histories()
    await ingest(redis, first)
    before = await snapshot(service, bands[:2])

    env = {**os.environ, "REDIS_URL": redis_url}
    rebuild = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "rebuild",
        "--grace",
        "1",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ids: list[str] = []
    answers_during = 0
    while rebuild.returncode is None:
        if len(ids) < len(meanwhile):  # events keep arriving during the rebuild
            chunk = meanwhile[len(ids) : len(ids) + 500]
            ids += await publish(redis, [json.dumps(e) for e in chunk])
        stats = await service.answer("stats", {"band": bands[0], "as_of": "2025-06-01"})
        assert stats["total_shows"] == before[3]["total_shows"]  # the current generation keeps answering
        answers_during += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rebuild.wait(), 0.05)
    stdout, stderr = await rebuild.communicate()
    assert rebuild.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert (result["old_generation"], result["new_generation"]) == (1, 2)
    assert result["replayed"] >= len(first) and result["old_keys_deleted"] > 0
    assert "replayed" in stderr.decode()  # the progress bar
    assert answers_during > 3

    ids += await publish(redis, [json.dumps(e) for e in meanwhile[len(ids) :]])
    settled = await wait_settled(redis, ids, timeout=120)
    assert settled.dead == 0
    assert await redis.hget(keys.GENERATION, "current") == b"2"
    assert [k async for k in redis.scan_iter(match=keys.generation_pattern(1))] == []
    assert await snapshot(service, bands[:2]) == before
    ref = Reference(first + meanwhile)
    for band in bands:
        await compare_aggregates(service, ref, band, "2030-01-01")
    await compare_details(service, ref, bands[-1], "2030-01-01")
