"""The dead-letter stream: what is parked there, and putting entries back after a fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from projections import keys
from projections.streams import entry_ref
from projections.values import stream_entries, text

from .connect import partitions_of
from .ingest import partition_of


async def list_dead(redis: Redis, count: int = 100, start: str = "-") -> list[dict[str, Any]]:
    """Parked entries, oldest first: their dead-letter id, source entry, reason, deliveries, raw payload."""
    out = []
    for entry_id, fields in stream_entries(await redis.xrange(keys.DEAD_STREAM, min=start, max="+", count=count)):
        out.append(
            {
                "id": entry_id,
                "source_id": text(fields[b"source_id"]),
                "stream": text(fields.get(b"stream", b"")),
                "reason": fields[b"reason"].decode(errors="replace"),
                "deliveries": int(fields.get(b"deliveries", b"1")),
                "raw": fields[b"raw"].decode(errors="replace"),
            }
        )
    return out


async def replay(redis: Redis, ids: list[str] | None = None) -> list[str]:
    """Publish parked entries (all, or those with these dead-letter ids) again, and drop them
    from the dead-letter stream; returns the new event entry ids."""
    entries = stream_entries(await redis.xrange(keys.DEAD_STREAM))
    wanted = set(ids) if ids else None
    chosen = [(i, f) for i, f in entries if wanted is None or i in wanted]
    if wanted:
        missing = wanted - {i for i, _ in chosen}
        if missing:
            raise KeyError(f"not in the dead-letter stream: {', '.join(sorted(missing))}")
    new_ids = []
    streams = await partitions_of(redis)
    for entry_id, fields in chosen:
        stream = _stream(fields)
        if stream not in streams.names:  # parked before a repartition: to its band's partition now
            stream = partition_of(streams, fields[b"raw"])
        added = await redis.xadd(stream, {"__data__": fields[b"raw"]})  # back where it came from
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xdel(keys.DEAD_STREAM, entry_id)
            pipe.hdel(keys.DEAD_INDEX, _ref(fields))
            await pipe.execute()
        new_ids.append(entry_ref(stream, text(added)))
    return new_ids


def _stream(fields: Mapping[bytes, bytes]) -> str:
    """The stream a parked entry came from (its partition's)."""
    return text(fields.get(b"stream") or keys.EVENTS_STREAM.encode())


def _ref(fields: Mapping[bytes, bytes]) -> str:
    """A parked entry's source, as the dead-letter index names it (``streams.entry_ref``)."""
    return entry_ref(_stream(fields), text(fields[b"source_id"]))


async def drop(redis: Redis, ids: list[str]) -> int:
    """Remove parked entries for good (their source entries stay in the log, never applied)."""
    entries = dict(stream_entries(await redis.xrange(keys.DEAD_STREAM)))
    missing = [i for i in ids if i not in entries]
    if missing:
        raise KeyError(f"not in the dead-letter stream: {', '.join(missing)}")
    async with redis.pipeline(transaction=True) as pipe:
        for entry_id in ids:
            pipe.xdel(keys.DEAD_STREAM, entry_id)
            pipe.hdel(keys.DEAD_INDEX, _ref(entries[entry_id]))
        await pipe.execute()
    return len(ids)
