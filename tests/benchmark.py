"""The benchmark: ingest, the raw ceiling, query latency (and questions asked during a
backfill), the seed router, live visibility (under a paced backfill and a flood, with the
flood's floor; and the questions asked a moment after a play), memory and scale (per-band
answers asked in turn with Phish's), in one seeded run.
Results go to bench-results/<time>.json and a row is appended to docs/benchmarks.csv (with
versions and host).

    .venv/bin/python tests/benchmark.py            # the full run (about ten minutes)
    .venv/bin/python tests/benchmark.py --quick    # a smaller run, for a quick look

Needs ../shared/data (the real histories); the seed baseline also needs ../shared/seed.
Latencies are medians and 99th percentiles over many requests; this machine is shared, so
compare ratios within one run rather than absolute figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datasets
from bench_common import (
    HISTORICAL,
    PACED_BACKFILL,
    QUERIES,
    ROOT,
    Consumer,
    drained,
    latencies,
    lines,
    ready,
    save,
    summary,
    used_memory,
    versions,
)
from bench_http import http_columns, http_phases
from bench_scale import scale_phase
from bench_visibility import asked_after_a_play, asked_during_a_backfill, live_songs, live_visibility
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.batch import apply_entries
from projections.scripts import Scripts
from service.app import ensure_group
from service.cli import freeze_heap
from service.client import StatsClient
from service.config import Settings
from service.embedded import RedisServer
from service.ingest import publish, wait_settled


async def bench_ingest(server: RedisServer, redis: Redis, events: list[str]) -> dict[str, Any]:
    """End to end (publish while the consumer applies), the consumer draining a backlog, and the
    raw ceiling (the same scripts from one process, no FastStream) on the same events."""
    out: dict[str, Any] = {"events": len(events)}
    await redis.flushall()
    consumer = Consumer(server.url)
    await ready(server.url)
    started = time.perf_counter()
    ids = await publish(redis, events)
    await wait_settled(redis, ids, timeout=3600)
    out["end_to_end_events_per_s"] = round(len(events) / (time.perf_counter() - started))
    consumer.stop()

    await redis.flushall()
    await ensure_group(redis)
    ids = await publish(redis, events)
    before = await used_memory(redis)
    scripts = Scripts(redis)
    batch = Settings.load().batch_size  # the consumer's batch size
    started = time.perf_counter()
    while True:
        read = await redis.xreadgroup(keys.CONSUMER_GROUP, "raw", {keys.EVENTS_STREAM: ">"}, count=batch)
        if not read:
            break
        entries = [(i.decode(), f) for i, f in read[0][1]]
        outcome = await apply_entries(scripts, entries)
        await redis.xack(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, *outcome.done)
    out["raw_ceiling_events_per_s"] = round(len(events) / (time.perf_counter() - started))
    out["projection_bytes"] = await used_memory(redis) - before

    await redis.flushall()
    ids = await publish(redis, events)
    consumer = Consumer(server.url)
    started = time.perf_counter()
    await wait_settled(redis, ids, timeout=3600)
    out["consumer_drain_events_per_s"] = round(len(events) / (time.perf_counter() - started))
    out["end_to_end_fraction_of_raw"] = round(out["end_to_end_events_per_s"] / out["raw_ceiling_events_per_s"], 3)
    out["drain_fraction_of_raw"] = round(out["consumer_drain_events_per_s"] / out["raw_ceiling_events_per_s"], 3)
    consumer.stop()
    return out


async def bench_backfill_behind(redis: Redis, events: list[dict[str, Any]], years: int = 3) -> dict[str, Any]:
    """A backfill behind recent history: each band's last ``years`` years applied first (the
    same scripts as the raw ceiling, no FastStream), then the rest of its history, timed: every
    play of it comes before plays already stored (an importer loading decades of history after
    the band went live)."""
    dates = {(e["band"], e["show_id"]): e["date"] for e in events if e["type"] == "ShowRecorded"}
    last = Counter()
    for (band, _), date in dates.items():
        last[band] = max(last[band], int(date[:4]))
    recent, older = [], []
    for e in events:
        year = int(dates.get((e["band"], e["show_id"]), "9999")[:4])
        (recent if year > last[e["band"]] - years else older).append(e)
    await redis.flushall()
    await ensure_group(redis)
    scripts = Scripts(redis)
    batch = Settings.load().batch_size
    out: dict[str, Any] = {"recent_events": len(recent), "events": len(older)}
    for part, timed in ((recent, False), (older, True)):
        ids = await publish(redis, lines(part))
        started = time.perf_counter()
        for i in range(0, len(ids), batch):
            read = await redis.xrange(keys.EVENTS_STREAM, ids[i], ids[min(i + batch, len(ids)) - 1])
            await apply_entries(scripts, [(entry_id.decode(), fields) for entry_id, fields in read])
        if timed:
            out["events_per_s"] = round(len(older) / (time.perf_counter() - started))
    await redis.flushall()
    return out


async def new_questions(
    url: str, band: str, first: str, last: str, requests: int, queries: list[tuple[str, dict[str, Any]]], seed: int = 5
) -> dict[str, Any]:
    """p50/p99 of each query over request/reply, concurrency 1, each request with an ``as_of``
    drawn (seeded, without repeats) between the band's first and last show: every request is
    a question new to the query process, so every answer is computed (as a client sweeping
    dates would see them)."""
    rng = random.Random(seed)
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    out = {}
    async with StatsClient(url, timeout=60) as client:
        for name, params in queries:
            days = rng.sample(range((end - start).days + 1), requests)
            times: list[float] = []
            for day in days:
                body = {"band": band, "as_of": (start + dt.timedelta(days=day)).isoformat(), **params}
                t = time.perf_counter()
                await client.query(name, **body)
                times.append((time.perf_counter() - t) * 1000)
            out[name + ("_" + "_".join(map(str, params.values())) if params else "")] = summary(times)
    return out


def seed_times(events: list[dict[str, Any]], as_of: str, repeat: int) -> dict[str, Any]:
    import seed_baseline

    if why := seed_baseline.available():
        return {"skipped": why}
    seed = seed_baseline.Seed(Reference(events), "phish")
    out = {}
    calls = {
        "gaps": {"min_plays": 5, "limit": 50},
        "velocity": {"limit": 50},
        "trends": {"period": "month"},
        "stats": {},
        "bustouts": {"days": 365, "gap_threshold": 180},
        "debuts": {"days": 365},
    }
    for name, params in calls.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            seed.call(name, as_of, vertical_slug="phish", **params)
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"median_ms": round(statistics.median(times), 1), "n": repeat}
    return out


async def run(quick: bool, before: str | None = None) -> dict[str, Any]:
    for name in ("phish", "grateful-dead", "goose"):
        if not datasets.available(name):
            raise SystemExit(f"../shared/data/{name} is absent: the benchmark runs on the real histories")
    phish = list(datasets.phish())
    everything = [*phish, *datasets.grateful_dead(), *datasets.goose()]
    freeze_heap()  # the histories held here: a full collection over them held this client 72 ms
    last_show = max(e["date"] for e in phish if e["type"] == "ShowRecorded")
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "quick": quick,
        "versions": versions(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(tmp)
        server.start()
        redis = Redis.from_url(server.url)
        results["versions"]["redis_server"] = (await redis.info("server"))["redis_version"]
        try:
            print("ingest: Phish + Grateful Dead + Goose", file=sys.stderr)
            results["ingest"] = await bench_ingest(server, redis, lines(everything))
            print("  a backfill behind recent history", file=sys.stderr)
            results["ingest"]["backfill_behind_recent"] = await bench_backfill_behind(redis, everything)
            plays = sum(1 for e in everything if e["type"] == "PerformanceAdded")
            results["memory"] = {
                "plays": plays,
                "bytes_per_play": round(results["ingest"]["projection_bytes"] / plays, 1),
            }

            print("queries over request/reply (Phish)", file=sys.stderr)
            consumer = Consumer(server.url)
            await ready(server.url)
            ids = await publish(redis, lines(everything))
            await wait_settled(redis, ids, timeout=3600)
            n = 100 if quick else 400
            played = {e["show_id"] for e in phish if e["type"] == "PerformanceAdded"}
            show = max(
                (e["date"], e["show_id"])
                for e in phish
                if e["type"] == "ShowRecorded" and e["date"] <= HISTORICAL and e["show_id"] in played
            )[1]
            queries = [(q, {"show_id": show} if q == "setlist" else p) for q, p in QUERIES]
            results["queries"] = {}
            for label, as_of in (("last_show", last_show), ("historical", HISTORICAL)):
                for concurrency in (1, 16):
                    key = f"{label}_c{concurrency}"
                    print(f"  {key}", file=sys.stderr)
                    results["queries"][key] = await latencies(server.url, "phish", as_of, concurrency, n, queries)
                    results["queries"][key + "_cold"] = await latencies(
                        server.url, "phish", as_of, concurrency, n, queries, cold=True
                    )
            print("  new_questions_c1 (a new as_of each request)", file=sys.stderr)
            first_show = min(e["date"] for e in phish if e["type"] == "ShowRecorded")
            swept = [(q, p) for q, p in QUERIES if q not in ("song", "setlist", "bands")]
            results["queries"]["new_questions_c1"] = await new_questions(
                server.url, "phish", first_show, last_show, n // 2, swept
            )

            print("  asked during a backfill", file=sys.stderr)
            results["asked_during_a_backfill"] = await asked_during_a_backfill(
                server.url, redis, datasets.grateful_dead(), last_show
            )

            print("seed router (SQLite, same Phish plays)", file=sys.stderr)
            results["seed"] = {
                "last_show": seed_times(phish, last_show, 1 if quick else 3),
                "historical": seed_times(phish, HISTORICAL, 1 if quick else 3),
            }
            results["seed_ratio"] = {}
            for label in ("last_show", "historical"):
                ours = results["queries"][f"{label}_c1"]
                seed = results["seed"][label]
                if "skipped" not in seed:
                    results["seed_ratio"][label] = {q: round(seed[q]["median_ms"] / ours[q]["p50_ms"], 1) for q in seed}

            consumer.stop()  # the HTTP phases run handlers of their own (each request answered once)
            results["http"] = await http_phases(server.url, last_show, results["seed"], quick, before, n, queries)
            # before the floods below: they leave a backlog behind (by construction)
            print("highlights: write-through to the SSE stream, idle and during a backfill", file=sys.stderr)
            import bench_live  # it reuses this module's backfill publisher

            results["highlights"] = await bench_live.highlight_phases(server.url, quick)
            consumer = Consumer(server.url)
            await ready(server.url)
            await drained(redis)  # what the highlights phase's flood left

            print("live visibility during a backfill", file=sys.stderr)
            backfill = [{**e, "band": "backfill", "event_id": "bf-" + e["event_id"]} for e in datasets.grateful_dead()]
            live_n = 100 if quick else 300
            songs = live_songs(phish)

            async def live(label: str, **options: Any) -> None:
                print(f"  {label}", file=sys.stderr)
                results[label] = await live_visibility(
                    server.url, redis, count=live_n, show=label, songs=songs, **options
                )

            # one `serve` process; the stream path during a backfill comes last: it leaves the
            # largest backlog behind
            await live("live_visibility_idle")
            await live("live_write_through_idle", write_through=True)
            print("  asked_after_a_play", file=sys.stderr)
            results["asked_after_a_play"] = await asked_after_a_play(server.url, 20 if quick else 30, songs)
            await live("live_write_through_paced", backfill=backfill, write_through=True, rate=PACED_BACKFILL)
            await live("live_write_through", backfill=backfill, write_through=True)
            consumer.stop()
            # the floor of that measurement: the same path under the same flood with nothing
            # applying it (the query handlers alone: the flood waits in the stream)
            handlers = Consumer(server.url, "", "handlers")
            await ready(server.url)
            await live("live_write_through_floor", backfill=backfill, write_through=True)
            handlers.stop()
            # the deployment for live shows during backfills: handlers apart from a consumer
            # that yields the CPU (serve --role handlers; serve --role consumer with NICE=10)
            split = [Consumer(server.url, "bench-consumer", "consumer", nice=10), Consumer(server.url, "", "handlers")]
            await ready(server.url)
            await drained(redis)  # the paced backfill alone, as in one process
            await live("live_write_through_split_paced", backfill=backfill, write_through=True, rate=PACED_BACKFILL)
            await live("live_write_through_split", backfill=backfill, write_through=True)
            for process in split:
                process.stop()
            consumer = Consumer(server.url)
            await ready(server.url)
            await drained(redis)  # start from an empty backlog
            await live("live_visibility", backfill=backfill)
            consumer.stop()

            results["scale"] = await scale_phase(server.url, redis, phish, last_show, n, quick)
        finally:
            await redis.aclose()
            server.stop()
    return results


def record(results: dict[str, Any]) -> Path:
    path = save(results)
    q = results["queries"]["last_show_c1"]
    row = {
        "started": results["started"],
        "host": results["host"],
        "quick": results["quick"],
        **{f"v_{k}": v for k, v in results["versions"].items()},
        "ingest_eps": results["ingest"]["end_to_end_events_per_s"],
        "raw_eps": results["ingest"]["raw_ceiling_events_per_s"],
        "drain_eps": results["ingest"]["consumer_drain_events_per_s"],
        "bytes_per_play": results["memory"]["bytes_per_play"],
        **{f"{name}_p50_ms": v["p50_ms"] for name, v in q.items()},
        "gaps_seed_ratio": results["seed_ratio"].get("last_show", {}).get("gaps"),
        "live_p99_ms": results["live_visibility"]["p99_ms"],
        "scale_eps": results["scale"]["end_to_end_events_per_s"],
        "scale_per_band_ratio_max": max(results["scale"]["per_band_ratio_c1"].values()),
        "live_write_through_p99_ms": results["live_write_through"]["p99_ms"],
        "live_write_through_split_p99_ms": results["live_write_through_split"]["p99_ms"],
        "live_write_through_floor_p99_ms": results["live_write_through_floor"]["p99_ms"],
        "live_write_through_paced_p99_ms": results["live_write_through_paced"]["p99_ms"],
        "live_write_through_split_paced_p99_ms": results["live_write_through_split_paced"]["p99_ms"],
        "asked_after_a_play_p99_ms": max(v["p99_ms"] for v in results["asked_after_a_play"]["after_a_play"].values()),
        "gaps_new_question_p50_ms": results["queries"]["new_questions_c1"]["gaps"]["p50_ms"],
        "new_question_p50_ms_max": max(v["p50_ms"] for v in results["queries"]["new_questions_c1"].values()),
        "asked_during_a_backfill_p99_ms": results["asked_during_a_backfill"]["song"]["p99_ms"],
        "asked_during_a_backfill_eps": results["asked_during_a_backfill"]["backfill_events_per_s"],
        **http_columns(results["http"]),
        "highlight_idle_p99_ms": results["highlights"]["idle"]["p99_ms"],
        "highlight_backfill_p99_ms": results["highlights"]["during_backfill"]["p99_ms"],
    }
    csv_path = ROOT / "docs" / "benchmarks.csv"
    rows: list[dict[str, Any]] = []
    columns = list(row)
    if csv_path.exists():
        with csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or []) + [c for c in row if c not in (reader.fieldnames or [])]
    with csv_path.open("w", newline="") as f:  # rewritten whole: a new column gets a header
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows([*rows, row])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests and a smaller scale run")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure request/reply of this git revision's serve beside this one's, in turn",
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.quick, args.before))
    path = record(results)
    print(json.dumps(results, indent=2))
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
