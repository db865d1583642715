"""The dead-letter stream: what is parked there, and putting entries back after a fix."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from projections import keys
from projections.values import stream_entries, text


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
    for entry_id, fields in chosen:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xadd(keys.EVENTS_STREAM, {"__data__": fields[b"raw"]})
            pipe.xdel(keys.DEAD_STREAM, entry_id)
            pipe.hdel(keys.DEAD_INDEX, text(fields[b"source_id"]))
            added, *_ = await pipe.execute()
        new_ids.append(text(added))
    return new_ids


async def drop(redis: Redis, ids: list[str]) -> int:
    """Remove parked entries for good (their source entries stay in the log, never applied)."""
    entries = dict(stream_entries(await redis.xrange(keys.DEAD_STREAM)))
    missing = [i for i in ids if i not in entries]
    if missing:
        raise KeyError(f"not in the dead-letter stream: {', '.join(missing)}")
    async with redis.pipeline(transaction=True) as pipe:
        for entry_id in ids:
            pipe.xdel(keys.DEAD_STREAM, entry_id)
            pipe.hdel(keys.DEAD_INDEX, text(entries[entry_id][b"source_id"]))
        await pipe.execute()
    return len(ids)
