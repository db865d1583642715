"""What every importer shares: a source's shows as contract events, published through the
events stream (so every guarantee of the consumer holds), skipped when unchanged.

A source yields ``Draft``s (one show: its ShowRecorded fields and its performances) and
``Refused`` rows. ``run`` turns each draft into events with stable ``event_id``s, validates
them with the contract's decoder (a refused event is reported with where it came from), and
compares the show's digest with the one in the band's checkpoint (``keys.import_key``):

- a new or changed show is published whole (its ShowRecorded and every performance), plus a
  PerformanceRemoved for each position it held before and holds no more;
- an unchanged show is skipped: importing twice publishes nothing the second time.

The digest of a show is written to the checkpoint only after its events are in the stream,
so a run stopped anywhere loses nothing: the next run publishes again every show whose digest
it does not find, and republishing a show's same events changes no projection (every event is
keyed by its show and position; the later copy carries the same values). The source's own
cursor (``Checkpoint.cursor``) is saved when a run ends, and its place in an unfinished run
(``Checkpoint.resume``) as it goes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis

from projections import keys
from projections.events import InvalidEvent, decode_event
from projections.values import text

from ..ingest import publish, wait_settled

#: Events published per pipeline; the checkpoint advances after each such chunk.
CHUNK = 500


@dataclass
class Draft:
    """One show as a source has it: ShowRecorded fields (``show_id`` and ``date`` at least)
    and its performances' PerformanceAdded fields (``position`` at least), in any order."""

    show: dict[str, Any]
    plays: list[dict[str, Any]]
    where: str  # where in the source it came from: "line 12", "page 3", a URL path


@dataclass
class Refused:
    """A row or record of the source that cannot become an event, and why."""

    where: str
    reason: str


class Source(Protocol):
    """An importer: its name (the checkpoint's), its band, and its shows."""

    name: str
    band: str

    def drafts(self, checkpoint: Checkpoint, progress: Progress) -> AsyncIterator[Draft | Refused]: ...


class Progress(Protocol):
    """Where a run reports how far it is (``rich`` in the CLI, nothing in tests)."""

    def total(self, what: str, n: int | None) -> None: ...

    def advance(self, what: str, n: int = 1) -> None: ...


class Quiet:
    def total(self, what: str, n: int | None) -> None:
        pass

    def advance(self, what: str, n: int = 1) -> None:
        pass


@dataclass
class Checkpoint:
    """A band's import state for one source, kept in Redis: each show's digest and positions,
    the source's cursor after the last complete run, and the place of an unfinished one."""

    redis: Redis
    key: str
    shows: dict[str, tuple[str, list[int]]]
    cursor: dict[str, Any]
    resume: dict[str, Any]
    dry_run: bool = False
    #: publishes what the run holds back, so that a place saved is a place whose shows are in
    flush: Callable[[], Awaitable[None]] | None = None

    @classmethod
    async def load(cls, redis: Redis, source: str, band: str, dry_run: bool = False) -> Checkpoint:
        key = keys.import_key(band, source)
        raw = await redis.hgetall(key)
        shows: dict[str, tuple[str, list[int]]] = {}
        cursor: dict[str, Any] = {}
        resume: dict[str, Any] = {}
        for raw_name, raw_value in raw.items():
            name, value = text(raw_name), text(raw_value)
            if name.startswith("show:"):
                shows[name[5:]] = parse_mark(value)
            elif name == "cursor":
                cursor = json.loads(value)
            elif name == "resume":
                resume = json.loads(value)
        return cls(redis, key, shows, cursor, resume, dry_run)

    async def save_resume(self, place: dict[str, Any]) -> None:
        """Where an unfinished run is (a page): everything before it is published first."""
        if self.flush is not None:
            await self.flush()
        self.resume = place
        if not self.dry_run:
            await self.redis.hset(self.key, "resume", json.dumps(place))

    async def finish(self, cursor: dict[str, Any]) -> None:
        self.cursor, self.resume = cursor, {}
        if not self.dry_run:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self.key, "cursor", json.dumps(cursor))
                pipe.hdel(self.key, "resume")
                await pipe.execute()


@dataclass
class Summary:
    """What a run did; ``refused`` holds (where, reason) pairs."""

    source: str
    band: str
    shows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    plays: int = 0
    published: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    applied: int | None = None
    dead_lettered: dict[str, str] | None = None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "band": self.band,
            "shows": self.shows,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "plays": self.plays,
            "published": self.published,
            "refused": len(self.refused),
        }
        if self.dry_run:
            out["dry_run"] = True
        if self.applied is not None:
            out["applied"] = self.applied
            out["dead_lettered"] = len(self.dead_lettered or {})
        return out


def event_id(source: str, band: str, show_id: str, suffix: str = "") -> str:
    """A stable event id: the same show (and position) of the same source always gets the same."""
    digest = hashlib.blake2b(show_id.encode(), digest_size=10).hexdigest()
    return f"{source}:{band}:{digest}{suffix}"


def events_of(source: str, band: str, draft: Draft) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """A draft's events (ShowRecorded first, then performances by position) and the refusals
    among them; a refused ShowRecorded refuses the show."""
    show_id = str(draft.show["show_id"])
    show = {"type": "ShowRecorded", "event_id": event_id(source, band, show_id), "band": band, **draft.show}
    refused: list[tuple[str, str]] = []
    try:
        decode_event(_encode(show))
    except InvalidEvent as exc:
        return [], [(draft.where, f"show {show_id!r}: {exc}")]
    events = [show]
    for play in sorted(draft.plays, key=lambda p: p["position"]):
        where = play.pop("_where", draft.where)
        event = {
            "type": "PerformanceAdded",
            "event_id": event_id(source, band, show_id, f":{play['position']}"),
            "band": band,
            "show_id": show_id,
            **play,
        }
        try:
            decode_event(_encode(event))
        except InvalidEvent as exc:
            refused.append((where, f"show {show_id!r} position {play['position']}: {exc}"))
            continue
        events.append(event)
    return events, refused


def digest_of(events: list[dict[str, Any]]) -> str:
    return hashlib.blake2b(_encode(events), digest_size=12).hexdigest()


_encode = msgspec.json.Encoder(order="sorted").encode


async def run(
    redis: Redis,
    source: Source,
    dry_run: bool = False,
    wait: bool = False,
    timeout: float = 3600.0,
    progress: Progress | None = None,
    on_chunk: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> Summary:
    """Import ``source``'s shows for its band; see the module's text."""
    progress = progress or Quiet()
    prepare = getattr(source, "prepare", None)
    if prepare is not None:
        await prepare()
    checkpoint = await Checkpoint.load(redis, source.name, source.band, dry_run)
    summary = Summary(source.name, source.band, dry_run=dry_run)
    pending: list[dict[str, Any]] = []
    marks: dict[str, str] = {}  # show_id -> checkpoint value, written once its events are in
    ids: list[str] = []

    async def flush() -> None:
        if not pending and not marks:
            return
        if pending and not dry_run:
            ids.extend(await publish(redis, [_encode(e) for e in pending]))
        if marks and not dry_run:
            await redis.hset(checkpoint.key, mapping={f"show:{k}": v for k, v in marks.items()})
        for show_id, value in marks.items():
            checkpoint.shows[show_id] = parse_mark(value)
        summary.published += len(pending)
        pending.clear()
        marks.clear()
        if on_chunk:
            on_chunk(summary.published)

    checkpoint.flush = flush
    async for item in source.drafts(checkpoint, progress):
        if isinstance(item, Refused):
            summary.refused.append((item.where, item.reason))
            continue
        events, refused = events_of(source.name, source.band, item)
        summary.refused.extend(refused)
        progress.advance("shows")
        if not events:
            continue
        show_id = events[0]["show_id"]
        summary.shows += 1
        summary.plays += len(events) - 1
        digest = digest_of(events)
        # a show named twice in one run is compared against its earlier, unflushed copy
        before = parse_mark(marks[show_id]) if show_id in marks else checkpoint.shows.get(show_id)
        if before and before[0] == digest:
            summary.unchanged += 1
            continue
        positions = [e["position"] for e in events[1:]]
        if before:
            summary.changed += 1
            gone = sorted(set(before[1]) - set(positions))
            pending.extend(
                {
                    "type": "PerformanceRemoved",
                    "event_id": event_id(source.name, source.band, show_id, f":{p}:removed:{digest}"),
                    "band": source.band,
                    "show_id": show_id,
                    "position": p,
                }
                for p in gone
            )
        else:
            summary.new += 1
        pending.extend(events)
        marks[show_id] = f"{digest} {','.join(map(str, positions))}"
        if len(pending) >= chunk:
            await flush()
    await flush()
    await checkpoint.finish(getattr(source, "cursor", {}))
    if wait and ids:
        settled = await wait_settled(redis, ids, timeout=timeout)
        summary.applied, summary.dead_lettered = settled.applied, settled.reasons
    return summary


def parse_mark(value: str) -> tuple[str, list[int]]:
    """A show's checkpoint value ("digest positions,...") as (digest, positions)."""
    digest, _, positions = value.partition(" ")
    return digest, [int(p) for p in positions.split(",") if p]
