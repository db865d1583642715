"""Applying a batch of stream entries: decode, dead-letter what is invalid, apply the rest.

Used by the FastStream consumer, by the reclaimer of abandoned entries and by the benchmark's
raw ceiling, so that all of them apply events the same way. Applying is idempotent (see
``lua/apply.lua``), so an entry may be applied again after a crash; acking is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from . import keys
from .apply import group_by_band
from .events import Event, InvalidEvent, decode_event
from .highlights import Highlighting
from .scripts import Scripts

DATA_FIELD = b"__data__"
#: Events per script call. Redis runs one script at a time: a long call holds back every
#: other client, a short one costs throughput (on the three histories here a call of 1,000
#: events takes about 16 ms, one of 100 about 3 ms, and calls of 100 apply a quarter to a
#: third fewer events a second).
BULK_CHUNK = 1000
#: ... while live events are being published (see ``keys.LIVE``): a write-through waits for
#: at most one such call.
LIVE_CHUNK = 100
#: What FastStream's binary message format starts with (its publish writes it to ``__data__``).
_FASTSTREAM_MAGIC = b"\x89BIN\x0d\x0a\x1a\x0a"


def event_bytes(fields: Mapping[bytes, bytes]) -> bytes:
    """The event JSON of one stream entry: ``__data__`` as written by XADD or by FastStream."""
    raw = fields.get(DATA_FIELD)
    if raw is None:
        raise InvalidEvent("the entry has no __data__ field")
    if raw.startswith(_FASTSTREAM_MAGIC):
        from faststream.redis.parser.binary import BinaryMessageFormatV1

        raw, _ = BinaryMessageFormatV1.parse(raw)
    return raw


@dataclass
class Outcome:
    """What became of a batch: entries applied, dead-lettered, and failed (to retry)."""

    applied: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)  # the bands of the applied entries

    @property
    def done(self) -> list[str]:
        """The entries that may be acked."""
        return self.applied + self.dead


async def active_generations(redis: Redis) -> list[int]:
    """The projection generations events go to: the current one, and the next while a rebuild runs."""
    return generations_of(await redis.hmget(keys.GENERATION, GENERATION_FIELDS))


class LayoutMismatch(RuntimeError):
    """The projections in Redis were built with another key layout than this version reads."""


async def check_layout(redis: Redis) -> None:
    """Make sure the current generation was built with this version's key layout
    (``keys.LAYOUT``: every apply marks the generations it writes, if unmarked, and
    ``rebuild`` the one it switches to); a Redis without projections passes. Raises
    ``LayoutMismatch`` (naming the fix: ``setlist-stats rebuild``) otherwise."""
    current = await redis.hget(keys.GENERATION, "current")
    generation = int(current or keys.FIRST_GENERATION)
    stored = await redis.hget(keys.GENERATION, keys.layout_field(generation))
    if stored is None and not await redis.scard(keys.BANDS):
        return
    if stored is None or int(stored) != keys.LAYOUT:
        built = f"layout {int(stored)}" if stored is not None else "an earlier layout"
        raise LayoutMismatch(
            f"the projections in Redis (generation {generation}) were built with {built}; this version "
            f"reads layout {keys.LAYOUT}: run `setlist-stats rebuild` to rebuild them from the log"
        )


async def write_targets(redis: Redis) -> tuple[list[int], int]:
    """The active generations and the events per script call (short while live events are
    published, see ``keys.LIVE``), in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.GENERATION, GENERATION_FIELDS)
        pipe.exists(keys.LIVE)
        fields, live = await pipe.execute()
    return generations_of(fields), LIVE_CHUNK if live else BULK_CHUNK


#: The fields of ``keys.GENERATION`` that ``generations_of`` reads.
GENERATION_FIELDS = ["current", "next"]


def generations_of(fields: list[bytes | str | None]) -> list[int]:
    """The active generations from the ``GENERATION_FIELDS`` of ``keys.GENERATION``."""
    current, following = fields
    generations = [int(current or keys.FIRST_GENERATION)]
    if following:
        generations.append(int(following))
    return generations


async def apply_entries(
    scripts: Scripts,
    entries: Iterable[tuple[str, Mapping[bytes, bytes]]],
    generations: list[int] | None = None,
    chunk: int | None = None,
    highlighting: Highlighting | None = None,
    stream: str = keys.EVENTS_STREAM,
) -> Outcome:
    """Apply stream entries ``(id, fields)``: each event atomically, a band's events in script
    calls of up to ``chunk`` events per generation. By default the generations are the
    active ones and ``chunk`` follows the live marker, both read after the entries were.
    The calls go in one pipeline; Redis serves other clients between them. With
    ``highlighting``, each band's highlights are brought up to date after its applies (from
    the current generation; see highlights.py)."""
    outcome = Outcome()
    events: list[tuple[str, Event]] = []
    for entry_id, fields in entries:
        raw = fields.get(DATA_FIELD, b"")
        try:
            events.append((entry_id, decode_event(event_bytes(fields))))
        except InvalidEvent as exc:
            await scripts.dead_letter(entry_id, str(exc), raw, deliveries=1, stream=stream)
            outcome.dead.append(entry_id)
    if not events:
        return outcome
    batches = group_by_band(events)
    if generations is None:
        generations, targets_chunk = await write_targets(scripts.redis)
        chunk = chunk or targets_chunk
    chunk = chunk or BULK_CHUNK
    calls = [
        (band, batches[band][i : i + chunk], generation)
        for band in batches
        for i in range(0, len(batches[band]), chunk)
        for generation in generations
    ]

    async def queue(pipe: Pipeline) -> None:
        pipe.sadd(keys.BANDS, *batches)
        for generation in generations:  # what this version writes is in its layout (see check_layout)
            pipe.hsetnx(keys.GENERATION, keys.layout_field(generation), keys.LAYOUT)
        for band, part, generation in calls:
            await scripts.apply(band, part, generation, client=pipe)
        if highlighting is not None:
            for band in batches:
                await scripts.highlights(band, generations[0], highlighting.args(band), client=pipe)

    results = await scripts.pipelined(queue)
    bookkeeping, results = results[: 1 + len(generations)], results[1 + len(generations) :]
    errors = [result for result in bookkeeping if isinstance(result, Exception)]
    if errors:
        outcome.failed.extend(entry_id for entry_id, _ in events)
        outcome.errors.append(str(errors[0]))
        return outcome
    failed_bands: set[str] = set()
    pushes = [(band, None, None) for band in batches] if highlighting is not None else []
    for (band, _, _), result in zip([*calls, *pushes], results, strict=True):
        if isinstance(result, Exception) and band not in failed_bands:
            failed_bands.add(band)
            outcome.errors.append(f"{band}: {result}")
    for band in batches:
        (outcome.failed if band in failed_bands else outcome.applied).extend(v for v, _ in batches[band])
    outcome.bands = [band for band in batches if band not in failed_bands]
    if highlighting is not None:
        waiting = [
            band
            for band, result in zip(batches, results[len(calls) :], strict=True)
            if not isinstance(result, Exception) and int(result[2])
        ]
        await flush_outboxes(scripts.redis, waiting, highlighting.kept, highlighting.flush_lock_ms)
    return outcome


async def flush_outboxes(redis: Redis, bands: Sequence[str], kept: int, lock_ms: int = 5000) -> int:
    """Move the highlights waiting in ``bands``' outboxes (``keys.outbox_key``) to the
    highlights stream, oldest first, trimmed to about ``kept``; returns how many.

    One process at a time flushes a band's outbox (a lock in the band's slot); one that finds
    it taken leaves the flush to the holder, who looks again after letting go. Each highlight
    is appended, then taken out of the outbox: only a crash in between (or a holder stalled
    past ``lock_ms``, when its lock lapses) appends one twice, never one lost."""
    moved = 0
    for band in bands:
        moved += await _flush(redis, band, kept, lock_ms)
    return moved


async def _flush(redis: Redis, band: str, kept: int, lock_ms: int) -> int:
    outbox, lock = keys.outbox_key(band), keys.outbox_key(band) + ":lock"
    moved = 0
    while await redis.set(lock, 1, nx=True, px=lock_ms):
        try:
            items = await redis.lrange(outbox, 0, -1)
            if items:
                async with redis.pipeline(transaction=False) as pipe:
                    for item in items:
                        pipe.xadd(keys.HIGHLIGHTS, {DATA_FIELD: item}, maxlen=kept, approximate=True)
                    await pipe.execute()
                await redis.ltrim(outbox, len(items), -1)  # only once they are in the stream
                moved += len(items)
        finally:
            await redis.delete(lock)
        if not await redis.llen(outbox):  # what came while the lock was held is flushed too
            break
    return moved
