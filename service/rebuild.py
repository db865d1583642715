"""Rebuilding the projections from the log into a new generation, then switching to it.

1. ``next`` is set to a new generation: from then on every consumer applies each batch to
   the current generation and to the next one.
2. The whole stream is replayed into the next generation, in chunks, until the replay has
   caught up with the end of the stream. Applying is idempotent and order-independent, so
   the replay and the consumers' writes converge.
3. ``current`` becomes the new generation (one atomic step); queries answer from it at once.
4. After a grace period (for batches still in flight on the old generation), the old
   generation's keys are deleted.

The current generation keeps answering throughout; nothing that arrives meanwhile is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from projections import keys
from projections.apply import stream_id_key
from projections.batch import active_generations, apply_entries
from projections.scripts import Scripts
from projections.streams import Streams
from projections.values import stream_entries, text

from .connect import partitions_of

CHUNK = 2000


@dataclass
class Rebuilt:
    old: int
    new: int
    replayed: int
    dead: int
    deleted_keys: int


async def delete_generation(redis: Redis, generation: int) -> int:
    """Unlink every key of ``generation`` (on a cluster, the scan covers every primary)."""
    deleted = 0
    async for key in redis.scan_iter(match=keys.generation_pattern(generation), count=1000):
        deleted += await redis.unlink(key)
    return deleted


async def rebuild(
    redis: Redis,
    grace: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
) -> Rebuilt:
    """Replay the log into a new generation, switch to it, drop the old one."""
    scripts = Scripts(redis)
    current, following = await redis.hmget(keys.GENERATION, ["current", "next"])
    old = int(current or keys.FIRST_GENERATION)
    if following:  # a rebuild that did not finish: start that generation again from nothing
        await delete_generation(redis, int(following))
    new = max(old, int(following or 0)) + 1
    await delete_generation(redis, new)
    await redis.hset(keys.GENERATION, mapping={"current": old, "next": new})

    replayed = dead = 0
    streams = await partitions_of(redis)
    for stream in streams.names:  # a band's events are all in one partition, in order
        start = "-"
        while True:
            chunk = await redis.xrange(stream, min=start, max="+", count=CHUNK)
            if not chunk:
                break
            entries = stream_entries(chunk)
            outcome = await apply_entries(scripts, entries, generations=[new], stream=stream)
            if outcome.failed:
                raise RuntimeError(f"rebuild stopped: {'; '.join(outcome.errors)} (generation {old} still answers)")
            replayed += len(entries)
            dead += len(outcome.dead)
            if progress:
                progress(replayed, max(await log_length(redis, streams), replayed))
            last_ms, last_seq = stream_id_key(text(chunk[-1][0]))
            start = f"{last_ms}-{last_seq + 1}"

    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.GENERATION, mapping={"current": new, keys.layout_field(new): keys.LAYOUT})
        pipe.hdel(keys.GENERATION, "next", keys.layout_field(old))
        await pipe.execute()
    await asyncio.sleep(grace)
    deleted = await delete_generation(redis, old)
    return Rebuilt(old, new, replayed, dead, deleted)


async def log_length(redis: Redis, streams: Streams) -> int:
    """Entries in the event log, every partition's."""
    return sum([await redis.xlen(stream) for stream in streams.names])


__all__ = ["Rebuilt", "active_generations", "delete_generation", "log_length", "rebuild"]
