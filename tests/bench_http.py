"""The benchmark's HTTP phases (run by ``benchmark.py``): the seed's paths over HTTP at
concurrency 1, cached answers at concurrency 64 beside request/reply, request/reply before and
after a change (an older revision's ``serve`` beside this one's, in turn), and the figure that
chose the framework (Litestar beside FastAPI, the same route).

The load comes from ``wrk`` (a separate process, C): ``apt-get install wrk``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_common import HISTORICAL, ROOT, latencies, ready
from conftest import wait_ready

from service.client import StatsClient

#: The six seed paths (and the query each answers), as the benchmark asks them.
SEED_PATHS = {
    "gaps": "gaps/phish?min_plays=5&limit=50",
    "velocity": "velocity/phish?limit=50",
    "trends": "trends/phish?period=month",
    "stats": "stats/phish",
    "bustouts": "bustouts/phish?days=365&gap_threshold=180",
    "debuts": "debut-songs/phish?days=365",
}
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_available() -> str | None:
    """None when ``wrk`` is on PATH, else why the HTTP load phases cannot run."""
    return None if shutil.which("wrk") else "wrk is not installed (apt-get install wrk)"


def wrk(url: str, connections: int, seconds: float) -> dict[str, Any]:
    """``wrk`` against one URL: answers a second, p50 and p99 (ms), and how many were not 2xx."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    text = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout

    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        assert found, text
        return round(float(found.group(1)) * _UNITS[found.group(2)], 3)

    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    assert rate, text
    return {
        "per_s": round(float(rate.group(1))),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def seed_paths_c1(base: str, as_of: str, seconds: float) -> dict[str, Any]:
    """Each seed path at concurrency 1, cached (asked again and again), at ``as_of``."""
    out = {}
    for name, path in SEED_PATHS.items():
        url = f"{base}/analytics/{path}{'&' if '?' in path else '?'}as_of={as_of}"
        assert httpx.get(url).status_code == 200, url
        out[name] = wrk(url, 1, seconds)
    return out


async def request_reply_load(url: str, as_of: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """The cached ``gaps`` of the throughput phase over request/reply, ``concurrency`` askers
    for ``seconds``: answers a second, p50, p99."""
    times: list[float] = []
    params = {"band": "phish", "as_of": as_of, "min_plays": 5, "limit": 50}
    async with StatsClient(url, timeout=60, max_connections=concurrency * 4 + 8) as client:
        for _ in range(3):
            await asyncio.gather(*(client.query("gaps", **params) for _ in range(concurrency)))
        deadline = time.perf_counter() + seconds

        async def asker() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                await client.query("gaps", **params)
                times.append((time.perf_counter() - t) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(asker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    times.sort()
    return {
        "per_s": round(len(times) / elapsed),
        "p50_ms": round(times[len(times) // 2], 3),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
    }


class Worktree:
    """An older revision of the project checked out beside this one (``git worktree``)."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        self.path = Path(tempfile.mkdtemp(prefix="setlist-stats-before-"))

    def __enter__(self) -> Path:
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(self.path), self.revision],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return self.path

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(self.path)], cwd=ROOT, capture_output=True)


def serve(
    url: str,
    cwd: Path = ROOT,
    role: str = "handlers",
    http: str | None = None,
    settings: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``setlist-stats serve`` of the code in ``cwd`` (its own ``service`` package first),
    with ``settings`` (environment variables) added."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HTTP_ADDR")}
    env.update(REDIS_URL=url, SERVE_ROLE=role, LOG_LEVEL="WARNING", PYTHONPATH=str(cwd), CONSUMER_NAME="")
    env.update(settings or {})
    if http:
        env["HTTP_ADDR"] = http
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(60)


FRAMEWORK_APPS = {
    "litestar": """
from litestar import Litestar, get, Response
@get("/analytics/gaps/{band:str}")
async def gaps(band: str, min_plays: int = 5, limit: int = 50) -> Response[bytes]:
    return Response(BODY, media_type="application/json")
app = Litestar([gaps], openapi_config=None)
""",
    "fastapi": """
from fastapi import FastAPI
from fastapi.responses import Response
app = FastAPI()
@app.get("/analytics/gaps/{band}")
async def gaps(band: str, min_plays: int = 5, limit: int = 50) -> Response:
    return Response(BODY, media_type="application/json")
""",
}


def frameworks(port: int, seconds: float) -> dict[str, Any]:
    """The same route (parameters parsed, a fixed 50-row answer) on each framework, on uvicorn
    in a process of its own, at concurrency 64: the figure that chose Litestar."""
    out: dict[str, Any] = {}
    rows = "[{'song_id': str(i), 'song_title': 'Tweezer'} for i in range(50)]"
    body = f"import msgspec\nBODY = msgspec.json.encode({rows})\n"
    with tempfile.TemporaryDirectory() as tmp:
        for name, code in FRAMEWORK_APPS.items():
            try:
                __import__(name)
            except ImportError:
                out[name] = {"skipped": f"{name} is not installed"}
                continue
            (Path(tmp) / f"bench_{name}.py").write_text(body + code)
            command = [sys.executable, "-m", "uvicorn", f"bench_{name}:app", "--port", str(port)]
            command += ["--log-level", "warning", "--no-access-log"]
            process = subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                url = f"http://127.0.0.1:{port}/analytics/gaps/phish?min_plays=5"
                deadline = time.monotonic() + 30
                while True:
                    try:
                        httpx.get(url)
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
                wrk(url, 64, 2)  # warm up
                out[name] = wrk(url, 64, seconds)
            finally:
                stop(process)  # type: ignore[arg-type]
    return out


async def http_phases(
    url: str,
    last_show: str,
    seed: dict[str, Any],
    quick: bool,
    before: str | None,
    n: int,
    queries: list[tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """HTTP (``bench_http``): the seed's paths at concurrency 1 and their ratio to the seed
    router, cached answers at concurrency 64 beside request/reply from the same process,
    request/reply of ``before`` (a revision) beside this one's, and the framework figure."""
    if why := wrk_available():
        print(f"HTTP phases skipped: {why}", file=sys.stderr)
        return {"skipped": why}
    out: dict[str, Any] = {}
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    print("HTTP: serve --http, the seed paths at c1, cached gaps at c64 (wrk)", file=sys.stderr)
    process = serve(url, http=f"127.0.0.1:{port}")
    try:
        wait_ready(base, timeout=60)
        seconds = 2 if quick else 5
        for label, as_of in (("last_show", last_show), ("historical", HISTORICAL)):
            out[f"seed_paths_c1_{label}"] = c1 = seed_paths_c1(base, as_of, seconds)
            if "skipped" not in seed[label]:
                out[f"seed_ratio_{label}"] = {q: round(seed[label][q]["median_ms"] / c1[q]["p50_ms"]) for q in c1}
        gaps = f"{base}/analytics/{SEED_PATHS['gaps']}&as_of={last_show}"
        wrk(gaps, 64, 2)  # warm up
        out["cached_c64"] = wrk(gaps, 64, 2 * seconds)
        out["request_reply_c64"] = await request_reply_load(url, last_show, 64, 2 * seconds)
    finally:
        stop(process)
    if before:
        print(f"  request/reply of {before} beside this revision's, in turn", file=sys.stderr)
        out["request_reply_before_after"] = rounds = {"before": before, "rounds": []}
        with Worktree(before) as old:
            for _ in range(2):
                row = {}
                for label, cwd in (("before", old), ("after", ROOT)):
                    handlers = serve(url, cwd=cwd)
                    try:
                        await ready(url)
                        row[label] = await latencies(url, "phish", last_show, 1, n // 2, queries)
                    finally:
                        stop(handlers)
                rounds["rounds"].append(row)
        for label in ("before", "after"):
            rounds[f"{label}_p50_ms"] = {
                q: round(statistics.median(r[label][q]["p50_ms"] for r in rounds["rounds"]), 3)
                for q in rounds["rounds"][0][label]
            }
    print("  the framework figure (Litestar beside FastAPI, one route, c64)", file=sys.stderr)
    out["frameworks"] = frameworks(port + 1, 3 if quick else 6)
    return out


def http_columns(http: dict[str, Any]) -> dict[str, Any]:
    """The CSV's columns of the HTTP phases."""
    if "skipped" in http:
        return {}
    c1 = http["seed_paths_c1_last_show"]
    out = {
        "http_seed_paths_p50_ms_max": max(v["p50_ms"] for v in c1.values()),
        "http_seed_paths_p99_ms_max": max(v["p99_ms"] for v in c1.values()),
        "http_seed_ratio_min": min(min(r.values()) for k, r in http.items() if k.startswith("seed_ratio_"))
        if any(k.startswith("seed_ratio_") for k in http)
        else None,
        "http_cached_c64_per_s": http["cached_c64"]["per_s"],
        "http_cached_c64_p99_ms": http["cached_c64"]["p99_ms"],
        "request_reply_c64_per_s": http["request_reply_c64"]["per_s"],
        "request_reply_c64_p99_ms": http["request_reply_c64"]["p99_ms"],
        "litestar_per_s": http["frameworks"].get("litestar", {}).get("per_s"),
        "fastapi_per_s": http["frameworks"].get("fastapi", {}).get("per_s"),
    }
    if "request_reply_before_after" in http:
        ba = http["request_reply_before_after"]
        out["request_reply_p50_ms_before_max"] = max(ba["before_p50_ms"].values())
        out["request_reply_p50_ms_after_max"] = max(ba["after_p50_ms"].values())
    return out
