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

import msgspec
from redis.asyncio import Redis

from projections import keys
from projections.apply import stream_id_key
from projections.streams import Streams, entry_ref, parse_ref
from projections.values import stream_entries, text

from .connect import partitions_of

CHUNK = 1000


@dataclass
class Settled:
    """What became of a set of published entries."""

    published: int
    applied: int
    dead: int
    reasons: dict[str, str]  # entry id -> reason, for the dead-lettered ones


class _Band(msgspec.Struct):
    band: str = ""


_band_of = msgspec.json.Decoder(_Band).decode


def partition_of(streams: Streams, line: bytes | str) -> str:
    """The stream a line goes to: its band's (partition 0 for a line that is not an event's
    JSON: the consumer dead-letters it there)."""
    if streams.count == 1:
        return streams.names[0]
    try:
        return streams.of_band(_band_of(line).band)
    except (msgspec.DecodeError, ValueError):
        return streams.names[0]


async def publish(
    redis: Redis,
    lines: Iterable[bytes | str],
    progress: Callable[[int], None] | None = None,
    streams: Streams | None = None,
) -> list[str]:
    """XADD each line as one entry, to its band's partition (``projections/streams.py``;
    read from Redis unless given); returns the entries' references (``entry_ref``: the ids,
    with one partition), in order."""
    streams = streams or await partitions_of(redis)
    refs: list[str] = []
    chunk: list[bytes | str] = []

    async def flush() -> None:
        targets = [partition_of(streams, line) for line in chunk]
        async with redis.pipeline(transaction=False) as pipe:
            for stream, line in zip(targets, chunk, strict=True):
                pipe.xadd(stream, {"__data__": line})
            added = await pipe.execute()
        refs.extend(entry_ref(stream, text(i)) for stream, i in zip(targets, added, strict=True))
        if progress:
            progress(len(chunk))
        chunk.clear()

    for line in lines:
        chunk.append(line)
        if len(chunk) >= CHUNK:
            await flush()
    if chunk:
        await flush()
    return refs


async def wait_settled(
    redis: Redis,
    refs: list[str],
    timeout: float = 600.0,
    progress: Callable[[int], None] | None = None,
) -> Settled:
    """Wait until every entry of ``refs`` (``publish``'s) is delivered and acked (applied or
    dead-lettered), in whichever partitions they are."""
    if not refs:
        return Settled(0, 0, 0, {})
    by_stream: dict[str, list[str]] = {}
    for ref in refs:
        stream, entry_id = parse_ref(ref)
        by_stream.setdefault(stream, []).append(entry_id)
    for ids in by_stream.values():
        ids.sort(key=stream_id_key)
    deadline = time.monotonic() + timeout
    unsettled = dict(by_stream)
    while unsettled:
        delivered_count = len(refs) - sum(len(ids) for ids in unsettled.values())
        for stream, ids in list(unsettled.items()):
            settled, delivered = await _settled(redis, stream, ids)
            if settled:
                del unsettled[stream]
            delivered_count += delivered
        if progress:
            progress(delivered_count)
        if not unsettled:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(
                "the consumer has not settled every published event yet; is `setlist-stats serve` running?"
            )
        await asyncio.sleep(0.05)
    first_ms = min(int(parse_ref(ref)[1].split("-")[0]) for ref in refs)
    reasons = await dead_reasons(redis, set(refs), since=f"{max(first_ms - 60_000, 0)}")
    return Settled(len(refs), len(refs) - len(reasons), len(reasons), reasons)


async def _settled(redis: Redis, stream: str, ids: list[str]) -> tuple[bool, int]:
    """Whether every entry of ``ids`` (ascending) in ``stream`` is delivered and acked, and how
    many are delivered."""
    groups = await redis.xinfo_groups(stream)
    group = next((g for g in groups if text(g["name"]) == keys.CONSUMER_GROUP), None)
    if group is None:
        return False, 0
    last_delivered = _text(group["last-delivered-id"])
    delivered = stream_id_key(last_delivered) >= stream_id_key(ids[-1])
    pending = await redis.xpending_range(stream, keys.CONSUMER_GROUP, min=ids[0], max=ids[-1], count=1)
    return bool(delivered and not pending), _delivered_count(ids, last_delivered)


async def dead_reasons(redis: Redis, refs: set[str], since: str = "-") -> dict[str, str]:
    """Reasons of the dead-lettered entries among ``refs`` (parked at or after ``since``, a
    stream id or its milliseconds)."""
    reasons = {}
    for _, fields in stream_entries(await redis.xrange(keys.DEAD_STREAM, min=since, max="+")):
        ref = entry_ref(text(fields.get(b"stream", keys.EVENTS_STREAM.encode())), text(fields[b"source_id"]))
        if ref in refs:
            reasons[ref] = text(fields[b"reason"])
    return reasons


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _delivered_count(ids: list[str], last_delivered: str) -> int:
    """How many of ``ids`` (in publish order, so ascending) are at or before ``last_delivered``."""
    return bisect.bisect_right(ids, stream_id_key(last_delivered), key=stream_id_key)
