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
from conftest import ingest, settings_for_tests
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.batch import LayoutMismatch
from projections.queries import Queries
from projections.scripts import Scripts
from service.app import running
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


async def _cli(redis_url: str, *args: str, timeout: float = 120) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        *args,
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, stderr.decode()


async def test_projections_of_another_layout_are_refused_until_rebuilt(redis: Redis, redis_url: str) -> None:
    """Projections built by a version with another key layout (or one from before layouts
    were recorded) would answer wrongly: the service refuses to start on them, naming the fix,
    and answers again, exactly, once `rebuild` has rebuilt them from the log."""
    events = [e for e in history() if e["band"] == "copper-kettle"]
    async with running(settings_for_tests(), redis_url):
        await ingest(redis, events)
    field = keys.layout_field(keys.FIRST_GENERATION)
    assert await redis.hget(keys.GENERATION, field) == str(keys.LAYOUT).encode()  # marked by the first apply

    for stored in (None, keys.LAYOUT - 1):
        if stored is None:
            await redis.hdel(keys.GENERATION, field)
        else:
            await redis.hset(keys.GENERATION, field, stored)
        with pytest.raises(LayoutMismatch, match="run `setlist-stats rebuild`"):
            async with running(settings_for_tests(), redis_url):
                pass
    code, stderr = await _cli(redis_url, "serve")
    assert code != 0 and f"reads layout {keys.LAYOUT}" in stderr and "setlist-stats rebuild" in stderr, stderr
    assert "Traceback" not in stderr

    code, stderr = await _cli(redis_url, "rebuild", "--grace", "0")
    assert code == 0, stderr
    assert await redis.hget(keys.GENERATION, "current") == b"2"
    assert await redis.hget(keys.GENERATION, keys.layout_field(2)) == str(keys.LAYOUT).encode()
    assert await redis.hget(keys.GENERATION, field) is None
    async with running(settings_for_tests(), redis_url):
        queries = Queries(Scripts(redis))
        ref = Reference(events)
        await compare_aggregates(queries, ref, "copper-kettle", "2030-01-01")
        await compare_details(queries, ref, "copper-kettle", "2030-01-01")
