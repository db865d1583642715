"""How a consumer gives way (``service/pacing.py``), measured beside another revision's in one
run, in turn (two rounds each, medians reported), on one local redis-server:

- ``write_through``: a write-through during a backfill of 5,000 events a second (published
  by another process), until the question after it sees the play: p50/p99 (target p99 <= 20 ms),
  and the backlog left at the end (the backfill still moving);
- ``asked``: a question asked again and again while a backfill of the Grateful Dead is
  applied by the same ``serve``: its p50/p99 (a few ms) and the backfill's rate.

    .venv/bin/python tests/bench_pacing.py --before REV [--after REV] [--variant NAME:VAR=VALUE,...]

Both revisions are checked out apart (``git worktree``; ``--after`` defaults to HEAD), so the
working tree may change meanwhile. Each variant is the ``--after`` revision's ``serve`` with
those settings (e.g. ``nograce:PACE_GRACE=0``).
Results go to bench-results/pacing-<time>.json and stdout."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from typing import Any

import bench_http
import datasets
from bench_common import PACED_BACKFILL, ROOT, drained, lines, ready, save
from bench_visibility import asked_during_a_backfill, live_songs, live_visibility
from redis.asyncio import Redis

from service.cli import freeze_heap
from service.embedded import RedisServer
from service.ingest import publish, wait_settled


async def measure(url: str, redis: Redis, label: str, songs: list[tuple[str, str]], last_show: str) -> dict[str, Any]:
    backfill = [{**e, "band": "backfill", "event_id": "bf-" + e["event_id"]} for e in datasets.grateful_dead()]
    out = {}
    out["write_through"] = await live_visibility(
        url, redis, count=200, show=f"pacing-{label}", songs=songs, backfill=backfill, write_through=True,
        rate=PACED_BACKFILL,
    )  # fmt: skip
    await drained(redis)
    await asyncio.sleep(1.5)  # past the served window of those questions
    out["asked"] = await asked_during_a_backfill(url, redis, datasets.grateful_dead(), last_show, band=f"asked-{label}")
    return out


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def median(path: tuple[str, ...]) -> float:
        values = []
        for r in rounds:
            value: Any = r
            for step in path:
                value = value[step]
            values.append(value)
        return round(statistics.median(values), 3)

    return {
        "write_through_p50_ms": median(("write_through", "p50_ms")),
        "write_through_p99_ms": median(("write_through", "p99_ms")),
        "write_through_backlog_at_end": median(("write_through", "backlog_at_end")),
        "asked_p50_ms": median(("asked", "song", "p50_ms")),
        "asked_p99_ms": median(("asked", "song", "p99_ms")),
        "asked_backfill_events_per_s": median(("asked", "backfill_events_per_s")),
    }


async def run(before: str, after: str, variants: dict[str, dict[str, str]], rounds: int) -> dict[str, Any]:
    phish = list(datasets.phish())
    freeze_heap()
    last_show = max(e["date"] for e in phish if e["type"] == "ShowRecorded")
    songs = live_songs(phish)
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "before": before,
        "after": after,
        "variants": variants,
        "rounds": [],
    }
    with tempfile.TemporaryDirectory() as tmp, bench_http.Worktree(before) as old, bench_http.Worktree(after) as new:
        server = RedisServer(tmp)
        server.start()
        redis = Redis.from_url(server.url)
        try:
            process = bench_http.serve(server.url, role="all")
            await ready(server.url)
            await wait_settled(redis, await publish(redis, lines(phish)), timeout=3600)
            bench_http.stop(process)
            runs = {"before": (old, {}), "after": (new, {}), **{n: (new, v) for n, v in variants.items()}}
            for round_ in range(rounds):
                row = {}
                for label, (cwd, settings) in runs.items():
                    print(f"round {round_ + 1}: {label}", file=sys.stderr)
                    process = bench_http.serve(server.url, cwd=cwd, role="all", settings=settings)
                    try:
                        await ready(server.url)
                        row[label] = await measure(server.url, redis, f"{label}-{round_}", songs, last_show)
                        await drained(redis)
                    finally:
                        bench_http.stop(process)
                results["rounds"].append(row)
        finally:
            await redis.aclose()
            server.stop()
    results["medians"] = {label: medians([r[label] for r in results["rounds"]]) for label in results["rounds"][0]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, metavar="REV", help="the revision measured beside this one")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:VAR=VALUE,...")
    parser.add_argument("--after", default="HEAD", metavar="REV", help="the revision measured (default HEAD)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    variants = {}
    for spec in args.variant:
        name, _, pairs = spec.partition(":")
        variants[name] = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    after = subprocess.run(["git", "rev-parse", "--short", args.after], cwd=ROOT, capture_output=True, text=True)
    results = asyncio.run(run(args.before, after.stdout.strip() or args.after, variants, args.rounds))
    path = save(results, "pacing-")
    print(json.dumps(results["medians"], indent=2))
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
