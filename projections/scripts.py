"""The Lua scripts, loaded from ``lua/*.lua`` and registered once per client.

Each script has one typed wrapper here; the header of each ``.lua`` file names its KEYS,
ARGV and what it returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from . import keys
from .apply import script_input
from .events import Event
from .streams import entry_ref

SCRIPT_NAMES = (
    "apply",
    "dead_letter",
    "highlights",
    "gaps",
    "velocity",
    "bustouts",
    "debuts",
    "song",
    "setlist",
    "summary",
    "trends",
)


def _read(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text()


def header() -> str:
    """What the scripts share with Python, defined once in ``keys``: handed to every script
    as Lua constants in front of it."""
    return (
        f"local HIATUS, REGULAR = {keys.HIATUS_DAYS}, {keys.REGULAR_PLAYS}\n"
        f"local SHOWKEY_ID = {keys.SHOWKEY_ID + 1}  -- where a showkey's show_id begins (from 1)\n"
        f"local ORDER_FORMAT, POSITION_FORMAT = '%0{keys.ORDER_WIDTH}d', '%0{keys.POSITION_WIDTH}d'\n"
        f"local ORDER_END = {len('YYYY-MM-DD ') + keys.ORDER_WIDTH}  -- where a showkey's order ends\n"
        f"local DAY_SCORE, YEAR_SCORE = {keys.DAY_SCORE}, {keys.YEAR_SCORE}\n"
        f"local MARK, MARK_FORMAT = {keys.MARK_WIDTH}, {lua_string(keys.MARK_FORMAT)}\n"
        f"local MARK_OFFSET_END = {len('YYYY ') + keys.MARK_OFFSET_WIDTH}  -- where a mark's offset ends\n"
    )


def lua_string(value: str) -> str:
    """``value`` as a Lua string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _source(name: str) -> str:
    """A script's source: the constants of ``header``, the shared helpers of ``lib.lua`` and
    ``plays.lua`` (each song's packed plays), then the script itself."""
    return header() + _read("lib") + "\n" + _read("plays") + "\n" + _read(name)


class Scripts:
    """The registered scripts of one Redis client."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._scripts: dict[str, AsyncScript] = {name: redis.register_script(_source(name)) for name in SCRIPT_NAMES}

    async def _run(self, name: str, keys_: list[str], args: list[Any], client: Any = None) -> Any:
        if isinstance(client, Pipeline):
            # EVALSHA queued as a plain command: redis-py would otherwise spend a SCRIPT EXISTS
            # round trip on every execute of a pipeline holding scripts (see ``pipelined``)
            return client.evalsha(self._scripts[name].sha, len(keys_), *keys_, *args)
        return await self._scripts[name](keys=keys_, args=args, client=client)

    async def pipelined(self, queue: Callable[[Pipeline], Awaitable[None]]) -> list[Any]:
        """Run what ``queue`` puts in a pipeline (commands, and script calls through this
        class's ``client=`` wrappers) in one round trip; the results, errors included. If Redis
        lacks a script (restarted, or ``SCRIPT FLUSH``), every script is loaded and the pipeline
        runs again: what is queued must be safe to repeat (reads, and idempotent applies)."""
        for attempt in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                await queue(pipe)
                results: list[Any] = await pipe.execute(raise_on_error=False)
            if attempt or not any(isinstance(result, NoScriptError) for result in results):
                break
            for script in self._scripts.values():
                await self.redis.script_load(script.script)
        return results

    async def apply(
        self, band: str, entries: list[tuple[str, Event]], generation: int = keys.FIRST_GENERATION, client: Any = None
    ) -> Any:
        """Apply one band's ``(stream id, event)`` pairs atomically to one generation of its
        projection; returns how many of them and of the song records changed state (0: none).
        With ``client`` (a pipeline) the call is queued there, to run on ``execute()``."""
        script_keys, args = script_input(band, generation, entries)
        return await self._run("apply", script_keys, args, client)

    async def highlights(self, band: str, generation: int, args: list[Any], client: Any = None) -> Any:
        """Push the band's new highlights and retract the gone ones (see lua/highlights.lua);
        ``args`` from ``Highlighting.args``. Queued on ``client`` when it is a pipeline."""
        script_keys = [*keys.band_keys(band, generation), keys.outbox_key(band), keys.pushed_key(band)]
        return await self._run("highlights", script_keys, args, client)

    async def dead_letter(
        self, source_id: str, reason: str, raw: bytes, deliveries: int, stream: str = keys.EVENTS_STREAM
    ) -> bool:
        """Record one entry (of ``stream``) in the dead-letter stream, once per entry; True if new."""
        added = await self._run(
            "dead_letter",
            [keys.DEAD_STREAM, keys.DEAD_INDEX],
            [entry_ref(stream, source_id), reason, raw, stream, deliveries, source_id],
        )
        return bool(added)

    async def read(
        self,
        name: str,
        band: str,
        generation: int,
        args: list[Any],
        client: Any = None,
    ) -> Any:
        """Run one of the query scripts over one generation of a band's keys;
        with ``client`` (a pipeline) the call is queued there, to run on ``execute()``."""
        if name not in SCRIPT_NAMES or name in ("apply", "dead_letter", "highlights"):
            raise ValueError(f"no read script {name!r}")
        return cast(Any, await self._run(name, keys.band_keys(band, generation), args, client))
