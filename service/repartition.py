"""Changing the number of the event log's partitions (``setlist-stats repartition N``).

With every ``serve`` stopped: each old partition's entries are appended, in order, to the
partition their band has among N (a band's events stay in one stream, in their order; the
copies get new ids), the new streams' consumer groups are created past what was copied, the
number N is recorded, the projections are rebuilt from the new streams into a new generation
(``rebuild``: the answers never show a half-copied log), and the old streams are deleted.
Then ``serve`` starts with ``STREAM_PARTITIONS=N`` (or unset). A run stopped midway leaves
the old log and its number in place; running it again starts over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from projections import keys
from projections.apply import stream_id_key
from projections.streams import Streams
from projections.values import stream_entries, text

from .connect import partitions_of
from .ingest import partition_of
from .rebuild import Rebuilt, log_length, rebuild

CHUNK = 2000


@dataclass
class Repartitioned:
    old: int
    new: int
    copied: int
    rebuilt: Rebuilt | None


async def repartition(
    redis: Redis, count: int, grace: float = 5.0, progress: Callable[[int, int], None] | None = None
) -> Repartitioned:
    """Move the event log into ``count`` partitions (see the module's text)."""
    old = await partitions_of(redis)
    new = Streams(count)
    if new == old:
        return Repartitioned(old.count, count, 0, None)
    total = await log_length(redis, old)
    for stream in new.names:  # a run stopped midway left copies: start over
        if stream not in old.names:
            await redis.delete(stream)
    copied = 0
    last: dict[str, str] = {}  # new stream -> the id of the last entry copied to it
    for stream in old.names:
        start = "-"
        while chunk := stream_entries(await redis.xrange(stream, min=start, max="+", count=CHUNK)):
            targets = [partition_of(new, fields.get(b"__data__", b"")) for _, fields in chunk]
            async with redis.pipeline(transaction=False) as pipe:
                for target, (_, fields) in zip(targets, chunk, strict=True):
                    pipe.xadd(target, dict[Any, Any](fields))
                added = await pipe.execute()
            last.update((target, text(i)) for target, i in zip(targets, added, strict=True))
            copied += len(chunk)
            if progress:
                progress(copied, total)
            ms, seq = stream_id_key(chunk[-1][0])
            start = f"{ms}-{seq + 1}"
    for stream in new.names:  # what was copied is applied by the rebuild below, not by the consumers
        await redis.xgroup_create(stream, keys.CONSUMER_GROUP, id=last.get(stream, "0"), mkstream=True)
    await redis.set(keys.PARTITIONS, count)
    rebuilt = await rebuild(redis, grace=grace)
    for stream in old.names:  # one at a time: on a cluster, each in a slot of its own
        if stream not in new.names:
            await redis.delete(stream)
    return Repartitioned(old.count, count, copied, rebuilt)
