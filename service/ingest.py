"""Publishing events to the stream, and waiting until the consumer has settled them.

Entries are written as the contract says: the event's JSON in the field ``__data__`` (the
same field FastStream's ``publish`` writes), pipelined in chunks.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from projections import keys
from projections.apply import stream_id_key
from projections.values import stream_entries, text

CHUNK = 1000


@dataclass
class Settled:
    """What became of a set of published entries."""

    published: int
    applied: int
    dead: int
    reasons: dict[str, str]  # entry id -> reason, for the dead-lettered ones


async def publish(
    redis: Redis, lines: Iterable[bytes | str], progress: Callable[[int], None] | None = None
) -> list[str]:
    """XADD each line as one entry; returns the entry ids, in order."""
    ids: list[str] = []
    chunk: list[bytes | str] = []

    async def flush() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for line in chunk:
                pipe.xadd(keys.EVENTS_STREAM, {"__data__": line})
            added = await pipe.execute()
        ids.extend(i.decode() if isinstance(i, bytes) else i for i in added)
        if progress:
            progress(len(chunk))
        chunk.clear()

    for line in lines:
        chunk.append(line)
        if len(chunk) >= CHUNK:
            await flush()
    if chunk:
        await flush()
    return ids


async def wait_settled(
    redis: Redis,
    ids: list[str],
    timeout: float = 600.0,
    progress: Callable[[int], None] | None = None,
) -> Settled:
    """Wait until every entry of ``ids`` is delivered and acked (applied or dead-lettered)."""
    if not ids:
        return Settled(0, 0, 0, {})
    first, last = min(ids, key=stream_id_key), max(ids, key=stream_id_key)
    deadline = time.monotonic() + timeout
    while True:
        groups = await redis.xinfo_groups(keys.EVENTS_STREAM)
        group = next((g for g in groups if g["name"] in (keys.CONSUMER_GROUP, keys.CONSUMER_GROUP.encode())), None)
        delivered = group and stream_id_key(_text(group["last-delivered-id"])) >= stream_id_key(last)
        pending = (
            await redis.xpending_range(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, min=first, max=last, count=1)
            if group
            else [1]
        )
        if progress and group:
            progress(_delivered_count(ids, _text(group["last-delivered-id"])))
        if delivered and not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(
                "the consumer has not settled every published event yet; is `setlist-stats serve` running?"
            )
        await asyncio.sleep(0.05)
    reasons = await dead_reasons(redis, set(ids), since=first)
    return Settled(len(ids), len(ids) - len(reasons), len(reasons), reasons)


async def dead_reasons(redis: Redis, ids: set[str], since: str = "-") -> dict[str, str]:
    """Reasons of the dead-lettered entries among ``ids`` (parked at or after ``since``)."""
    start = since.split("-")[0] if since != "-" else "-"
    reasons = {}
    for _, fields in stream_entries(await redis.xrange(keys.DEAD_STREAM, min=start, max="+")):
        source = text(fields[b"source_id"])
        if source in ids:
            reasons[source] = text(fields[b"reason"])
    return reasons


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _delivered_count(ids: list[str], last_delivered: str) -> int:
    """How many of ``ids`` (in publish order, so ascending) are at or before ``last_delivered``."""
    return bisect.bisect_right(ids, stream_id_key(last_delivered), key=stream_id_key)
