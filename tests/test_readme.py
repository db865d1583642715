"""The README's Python tour runs as written (against the test server)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from conftest import ingest
from factory import perf, show
from redis.asyncio import Redis

from projections.contract import markdown_table
from projections.queries import Queries

README = Path(__file__).resolve().parents[1] / "README.md"


async def test_readme_python_block(redis: Redis, redis_url: str, service: Queries) -> None:
    await ingest(
        redis,
        [show("1", "2024-05-01", band="phish"), perf("1", 1, "tweezer", band="phish")]
        + [
            e
            for i in range(2, 8)
            for e in (show(str(i), f"2024-05-0{i}", band="phish"), perf(str(i), 1, "tweezer", band="phish"))
        ],
    )
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block
    code = block.group(1).replace("redis://localhost:6379/0", redis_url)
    namespace: dict[str, object] = {}
    exec("async def tour():\n" + textwrap.indent(code, "    ") + "\n    return overdue, hot\n", namespace)
    overdue, hot = await namespace["tour"]()  # type: ignore[operator]
    assert [(g["song_id"], g["total_plays"]) for g in overdue] == [("tweezer", 7)]
    assert hot[0].song_id == "tweezer"


async def test_readme_plain_faststream_block(redis: Redis, redis_url: str, service: Queries) -> None:
    """The README's request from any FastStream client (its second Python block)."""
    await ingest(
        redis,
        [
            e
            for i in range(1, 7)
            for e in (show(str(i), f"2024-05-0{i}", band="phish"), perf(str(i), 1, "a", band="phish"))
        ],
    )
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if "RedisBroker" in b).replace("redis://localhost:6379/0", redis_url)
    namespace: dict[str, object] = {}
    exec("async def ask():\n" + textwrap.indent(code, "    ") + "\n    return overdue\n", namespace)
    overdue = await namespace["ask"]()  # type: ignore[operator]
    assert [(g["song_id"], g["total_plays"], g["last_played"]) for g in overdue] == [("a", 6, "2024-05-06")]


def test_readme_table_of_queries_is_the_contracts() -> None:
    """The README's table of queries is what ``setlist-stats docs queries`` derives from the
    contract (written again after a change to a query: the test says so)."""
    text = README.read_text()
    found = re.search(r"<!-- queries:.*?-->\n(.*?)\n<!-- /queries -->", text, re.S)
    assert found, "the README has no table of queries"
    assert found.group(1) == markdown_table(), "run `setlist-stats docs queries` and put its table in the README"
