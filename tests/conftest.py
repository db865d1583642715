"""Fixtures: a real redis-server started for the test session, and the service running on it.

The tests never touch a Redis they did not start. ``SETLIST_TEST_REDIS_URL`` points them at
another server instead; its database is flushed before each test, so give them one of
their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from projections.queries import Queries
from projections.scripts import Scripts
from service.app import running
from service.config import Settings
from service.embedded import RedisServer
from service.http import http_app
from service.ingest import Settled, publish, wait_settled

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("SETLIST_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    watchdog = _stuck_task_report(asyncio.get_running_loop(), float(request.config.getini("timeout") or 0))
    try:
        yield client
    finally:
        watchdog.cancel()
        await client.aclose()


def _stuck_task_report(loop: asyncio.AbstractEventLoop, limit: float) -> threading.Timer:
    """Shortly before pytest-timeout fails a stuck test, print where every asyncio task waits
    (pytest-timeout itself shows only the threads, all parked in the event loop's select)."""

    def report() -> None:
        print(f"--- asyncio tasks after {limit - 30:.0f} s ---", file=sys.stderr)
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=sys.stderr)

    timer = threading.Timer(max(limit - 30, 1), loop.call_soon_threadsafe, (report,))
    timer.daemon = True
    if limit:
        timer.start()
    return timer


def settings_for_tests(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"consumer": "test-consumer", "batch_size": 500, "claim_idle_ms": 1000}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def service(redis: Redis, redis_url: str) -> AsyncIterator[Queries]:
    """The consumer and query handlers running; yields the queries they answer with."""
    async with running(settings_for_tests(), redis_url):
        queries = Queries(Scripts(redis))
        yield queries
        await queries.close()


#: The API token of the HTTP app in the tests (``http``).
TOKEN = "s3cret-token"


@pytest.fixture
async def http(redis: Redis, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service running, and a client of its HTTP app (in this process, through ASGI)."""
    async with running(settings_for_tests(api_token=TOKEN), redis_url) as app:
        asgi = http_app(app.context.get("service"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://test") as client:
            yield client


async def ingest(redis: Redis, events: list[Any], timeout: float = 300.0) -> Settled:
    """Publish events (dicts, or raw bytes/str for poison) and wait until all are settled."""
    lines = [e if isinstance(e, (bytes, str)) else json.dumps(e) for e in events]
    ids = await publish(redis, lines)
    return await wait_settled(redis, ids, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, timeout: float = 30.0) -> None:
    """Until ``GET /readyz`` of a server at ``base`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base} is not ready after {timeout} s")


@contextlib.contextmanager
def serving_http(redis_url: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``setlist-stats serve --http`` on a free port (``env`` added to its environment), ready;
    yields its base URL and process. On leaving, it is stopped and must exit cleanly."""
    base = f"http://127.0.0.1:{free_port()}"
    environment = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HTTP_ADDR")}
    environment.update(REDIS_URL=redis_url, API_TOKEN=TOKEN, **env)
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--http", base[7:]],
        cwd=ROOT,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(base)
        yield base, server
    finally:
        if server.poll() is None:
            server.terminate()
        _, errors = server.communicate(timeout=30)
        assert server.returncode == 0, errors
        assert "Traceback" not in errors, errors


def shared_data(name: str) -> Path:
    from datasets import DATA

    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the real histories live in ../shared/data beside the project")
    return path


TODAY = dt.datetime.now(dt.UTC).date()


async def contents(redis: Redis, pattern: str) -> dict[bytes, Any]:
    """Every key matching ``pattern`` with its logical contents (DUMP bytes depend on encoding)."""
    out: dict[bytes, Any] = {}
    for key in sorted(await redis.keys(pattern)):
        kind = (await redis.type(key)).decode() if isinstance(await redis.type(key), bytes) else await redis.type(key)
        if kind == "hash":
            out[key] = await redis.hgetall(key)
        elif kind == "zset":
            out[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[key] = sorted(await redis.smembers(key))
        else:
            out[key] = await redis.get(key)
    return out
