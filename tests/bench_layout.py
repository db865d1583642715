"""Two revisions' key layouts side by side: the memory a play takes, the apply's rate and each
query's computed answer, every revision with the projections its own scripts build.

    .venv/bin/python tests/bench_layout.py --before REV [--after REV] [--rounds 3] [--quick]

Each revision is checked out apart (``git worktree``; ``--after`` defaults to the working
tree) and measured in a process of its own with its own ``redis-server``, the revisions in
turn for each round: Phish, the Grateful Dead and Goose applied from one process by the apply
script from the stream (as ``benchmark.py``'s raw ceiling does; twice, the second measured),
``used_memory`` over the plays, then each query for Phish asked at concurrency 1 with the band's stamp bumped before
each request (so every answer is computed, none cached): as of the last show, and as of
dates drawn (seeded, the same for both) from its history; p50 and p99 of the answer, and the
mean time Redis spent in the query's script. Medians over the rounds, and after / before.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import QUERIES as ASKED
from bench_common import save, versions

ROOT = Path(__file__).resolve().parent.parent

#: benchmark.py's queries (``bands`` apart: it reads no band's layout), and gaps by days over
#: every song played
QUERIES = [(name, params) for name, params in ASKED if name != "bands"] + [("gaps", {"sort": "days", "min_plays": 1})]


def label(name: str, params: dict[str, Any]) -> str:
    shown = [str(v) for k, v in params.items() if k != "show_id" and k != "song_id"]
    return "_".join([name, *shown])


async def measure(quick: bool) -> dict[str, Any]:
    """This process's revision (the ``projections`` and ``service`` on its path)."""
    import datasets
    from redis.asyncio import Redis

    from projections import keys
    from projections.batch import apply_entries
    from projections.queries import Queries
    from projections.scripts import Scripts
    from service.app import ensure_group
    from service.embedded import RedisServer
    from service.ingest import publish

    events = [*datasets.phish(), *datasets.grateful_dead(), *datasets.goose()]
    plays = sum(1 for e in events if e["type"] == "PerformanceAdded")
    phish_shows = sorted(
        (e["date"], e["show_id"]) for e in events if e["type"] == "ShowRecorded" and e["band"] == "phish"
    )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(tmp)
        server.start()
        redis = Redis.from_url(server.url)
        try:
            scripts = Scripts(redis)
            # twice, the second measured: the first also pays what a server pays once (the
            # scripts loaded, the allocator's first growth), as benchmark.py's raw run does
            for _ in range(2):
                await redis.flushall()
                await ensure_group(redis)
                await publish(redis, [json.dumps(e) for e in events])
                before = int((await redis.info("memory"))["used_memory"])
                started = time.perf_counter()
                stream = {keys.EVENTS_STREAM: ">"}
                while read := await redis.xreadgroup(keys.CONSUMER_GROUP, "raw", stream, count=500):
                    outcome = await apply_entries(scripts, [(i.decode(), f) for i, f in read[0][1]])
                    assert not outcome.failed and not outcome.dead, outcome.errors
                    await redis.xack(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, *outcome.done)
                elapsed = time.perf_counter() - started
            out["apply_events_per_s"] = round(len(events) / elapsed)
            out["bytes_per_play"] = round((int((await redis.info("memory"))["used_memory"]) - before) / plays, 1)

            queries = Queries(scripts)
            stamp = keys.band_key("phish", "stamp")
            last_date, last_show = phish_shows[-1]
            rng = random.Random(7)
            first = dt.date.fromisoformat(phish_shows[0][0])
            span = (dt.date.fromisoformat(last_date) - first).days
            requests = 30 if quick else 150
            dates = [(first + dt.timedelta(days=rng.randrange(span))).isoformat() for _ in range(requests)]
            for name, params in QUERIES:
                for when, as_ofs in (("last_show", [last_date] * requests), ("history", dates)):
                    times: list[float] = []
                    await redis.config_resetstat()
                    for as_of in as_ofs:
                        body = {"band": "phish", "as_of": as_of, **params}
                        if name == "setlist":  # the last show, or shows from all of its history
                            shown = phish_shows[len(times) * 7 % len(phish_shows)][1]
                            body.update(show_id=last_show if when == "last_show" else shown, as_of=last_date)
                        await redis.incr(stamp)  # no answer from the cache
                        t = time.perf_counter()
                        await queries.answer(name, body)
                        times.append((time.perf_counter() - t) * 1000)
                    times.sort()
                    script = (await redis.info("commandstats")).get("cmdstat_evalsha", {})
                    out[f"{label(name, params)}_{when}_script_ms"] = round(script.get("usec_per_call", 0) / 1000, 3)
                    out[f"{label(name, params)}_{when}_p50_ms"] = round(statistics.median(times), 3)
                    out[f"{label(name, params)}_{when}_p99_ms"] = round(times[int(0.99 * (len(times) - 1))], 3)
        finally:
            await redis.aclose()
            server.stop()
    return out


class Checkout:
    """A revision checked out apart (``git worktree``), or the working tree for None."""

    def __init__(self, revision: str | None) -> None:
        self.revision = revision
        self.path = ROOT if revision is None else Path(tempfile.mkdtemp(prefix="setlist-stats-layout-"))

    def __enter__(self) -> Path:
        if self.revision is not None:
            command = ["git", "worktree", "add", "--detach", str(self.path), self.revision]
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            shared = ROOT.parent / "shared"
            if shared.exists() and not (self.path.parent / "shared").exists():
                (self.path.parent / "shared").symlink_to(shared)
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.revision is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(self.path)], cwd=ROOT, capture_output=True)


def run_in(path: Path, quick: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    command = [sys.executable, str(Path(__file__).resolve()), "--measure"] + (["--quick"] if quick else [])
    done = subprocess.run(command, cwd=path, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="REV", help="the revision measured first (required unless --measure)")
    parser.add_argument("--after", metavar="REV", help="the revision beside it (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="30 requests a query instead of 150")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.quick))))
        return
    if not args.before:
        parser.error("--before REV is required")

    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with Checkout(args.before) as before, Checkout(args.after) as after:
        for round_ in range(args.rounds):
            for name, path in (("before", before), ("after", after)):
                print(f"round {round_ + 1}: {name}", file=sys.stderr)
                runs[name].append(run_in(path, args.quick))
    medians = {name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in runs.items()}
    ratios = {k: round(medians["after"][k] / v, 3) for k, v in medians["before"].items() if v}
    results = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "before": args.before,
        "after": args.after or "working tree",
        "rounds": args.rounds,
        "quick": args.quick,
        "versions": versions(),
        "medians": medians,
        "after_over_before": ratios,
        "runs": runs,
    }
    path = save(results, "layout-")
    print(json.dumps({"medians": medians, "after_over_before": ratios}, indent=2))
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
