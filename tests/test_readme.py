"""The README's Python tour runs as written (against the test server)."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest
from conftest import ingest
from factory import perf, show
from redis.asyncio import Redis

from projections import keys
from projections.contract import markdown_table
from projections.highlights import Highlight
from projections.queries import Queries

README = Path(__file__).resolve().parents[1] / "README.md"


async def test_readme_python_block(redis: Redis, redis_url: str, service: Queries) -> None:
    await ingest(
        redis,
        [show("1", "2024-05-01", band="wandering-moons"), perf("1", 1, "tweezer", band="wandering-moons")]
        + [
            e
            for i in range(2, 8)
            for e in (
                show(str(i), f"2024-05-0{i}", band="wandering-moons"),
                perf(str(i), 1, "tweezer", band="wandering-moons"),
            )
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
            for e in (
                show(str(i), f"2024-05-0{i}", band="wandering-moons"),
                perf(str(i), 1, "a", band="wandering-moons"),
            )
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


async def test_readme_chat_bot_block(redis: Redis, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's ten-line subscriber of the highlights stream hears a pushed highlight."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if "ss:highlights" in b).replace("redis://localhost:6379", redis_url)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    broker = namespace["broker"]
    async with broker:
        await broker.start()
        await asyncio.sleep(0.5)  # the group exists, reading from now on
        bustout = Highlight(
            id="phish:1:2:bustout",
            kind="bustout",
            band="wandering-moons",
            show_id="1",
            position=2,
            song_id="fee",
            song_title="Fee",
            date="2025-06-01",
            play_number=80,
            previous_play="2020-01-01",
            gap_shows=130,
            gap_days=1978,
        )
        await redis.xadd(keys.HIGHLIGHTS, {"__data__": msgspec.json.encode(bustout)})
        for _ in range(50):
            if "BUSTOUT! Fee at 1 (first in 130 shows)" in capsys.readouterr().out:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the chat bot did not tell the bustout")


def test_configuration_doc_is_the_settings() -> None:
    """docs/configuration.md's table is what ``setlist-stats docs settings`` derives from
    ``Settings``: every setting, its variable, default and meaning, in one place."""
    from service.config import settings_table

    doc = (README.parent / "docs" / "configuration.md").read_text()
    assert settings_table() in doc, "run `setlist-stats docs settings` and put its table in docs/configuration.md"
