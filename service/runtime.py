"""The running service: what its handlers share (``Service``: one Redis client, its
scripts, the queries; the consumer's batches, the write-through, the answers). How a
consumer gives way to live events and questions is ``service/pacing.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Coroutine
from typing import Any

import msgspec
from faststream.redis import RedisBroker
from faststream.redis.message import RedisBatchStreamMessage as BatchMessage
from redis.asyncio import Redis

from projections import keys
from projections.batch import (
    DATA_FIELD,
    GENERATION_FIELDS,
    LIVE_CHUNK,
    apply_entries,
    check_layout,
    generations_of,
    write_targets,
)
from projections.contract import ErrorBody, Params, Published, QueryError, Reply
from projections.events import Event
from projections.queries import Queries
from projections.scripts import Scripts
from projections.streams import Streams, entry_ref
from projections.values import text

from .channels import Names
from .config import Settings, redacted
from .connect import redis_client
from .live import Fanout
from .reclaim import Reclaimer

log = logging.getLogger("setlist-stats")

#: Seconds a stopping part may take before it is logged and forced (see ``running``).
STOP_TIMEOUT = 10.0


async def ensure_group(redis: Redis, streams: Streams | None = None) -> None:
    """Create the consumer group of each partition's stream at 0 (so events already in it
    are delivered)."""
    for stream in (streams or Streams()).names:
        try:
            await redis.xgroup_create(stream, keys.CONSUMER_GROUP, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: the group exists already
            if "BUSYGROUP" not in str(exc):
                raise


async def group_lag(redis: Redis, streams: Streams) -> tuple[int | None, int] | None:
    """The consumer groups' lag (entries not yet delivered, summed over the partitions; None
    where Redis does not report it) and pending entries; None when a group is missing."""
    lag: int | None = 0
    pending = 0
    for stream in streams.names:
        groups = await redis.xinfo_groups(stream)
        group = next((g for g in groups if text(g["name"]) == keys.CONSUMER_GROUP), None)
        if group is None:
            return None
        lag = None if lag is None or group.get("lag") is None else lag + int(group["lag"])
        pending += int(group.get("pending") or 0)
    return lag, pending


def refusal(error: QueryError) -> Reply[Any]:
    """The reply to a request that cannot be answered (``QueryError`` on the client side)."""
    return Reply(ok=False, error=ErrorBody(code=error.code, message=error.message, parameter=error.parameter))


class Service:
    """The running pieces shared by the handlers: one Redis client, its scripts, the queries."""

    def __init__(
        self, settings: Settings, url: str, broker: RedisBroker | None = None, streams: Streams | None = None
    ) -> None:
        self.settings = settings
        self.url = url
        self.streams = streams or Streams()  # the event log's partitions (projections/streams.py)
        self.broker = broker  # for the announcements of live changes (CHANGED_CHANNEL)
        self.names = Names.of(url, settings.instance)
        self.tally = Tally(self.streams)  # what the consumer did, logged every LOG_INTERVAL seconds
        self.redis: Redis | None = None
        self.scripts: Scripts | None = None
        self.queries: Queries | None = None
        self.reclaimer: Reclaimer | None = None
        self.highlighting = settings.highlighting()  # the consumer's and the write-through's
        self.fanout: Fanout | None = None  # followers of the highlights (GET /live)
        self._reclaim_task: asyncio.Task[None] | None = None
        self._changes: dict[str, int] = {}  # live changes announced per band (see refresh_soon)
        self._tasks: set[asyncio.Task[None]] = set()  # announcements and refreshes under way
        self.pacing = settings.pacing()  # how the consumer gives way (service/pacing.py)

    async def start(self) -> None:
        self.redis = redis_client(
            self.url, self.settings, max_connections=self.settings.max_connections, health_check_interval=10
        )
        try:
            await ensure_group(self.redis, self.streams)
            await check_layout(self.redis)
        except BaseException:
            await self.redis.aclose()
            raise
        self.scripts = Scripts(self.redis)
        self.queries = Queries(self.scripts, self.settings.answer_cache)
        self.fanout = Fanout(self.redis, self.settings.live_backlog, self.settings.live_keepalive)
        if self.settings.role == "handlers":
            log.info("setlist-stats answering on %s", redacted(self.url))
            return
        self.reclaimer = Reclaimer(self.scripts, self.settings, self.streams)
        self._reclaim_task = asyncio.create_task(self.reclaimer.run())
        self._tasks.add(asyncio.create_task(self.tally.report_every(self.redis, self.settings.log_interval)))
        log.info(
            "setlist-stats consuming %s on %s as %s",
            ", ".join(self.streams.names) if self.streams.count <= 4 else f"{self.streams.count} partitions",
            redacted(self.url),
            self.settings.consumer,
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.queries:
            await self.queries.close()
        if self.fanout:
            await self.fanout.close()
        if self._reclaim_task:
            self._reclaim_task.cancel()
            done, _ = await asyncio.wait({self._reclaim_task}, timeout=STOP_TIMEOUT)
            if not done:
                log.error("the reclaimer did not stop within %s s; left behind", STOP_TIMEOUT)
        if self.redis:
            await self.redis.aclose()

    async def consume(self, message: BatchMessage, stream: str = keys.EVENTS_STREAM) -> None:
        assert self.scripts and self.redis
        raw = message.raw_message
        ids, data = raw["message_ids"], raw["data"]
        entries = [(entry_id.decode(), fields) for entry_id, fields in zip(ids, data, strict=True)]
        generations, chunk = await write_targets(self.redis)
        paced = self.pacing.paced(live=chunk == LIVE_CHUNK, entries=len(entries))
        step = LIVE_CHUNK if paced else len(entries)
        chunk = LIVE_CHUNK if paced else chunk
        applied: set[str] = set()  # the bands the batch changed (or left as they were)
        for start in range(0, len(entries), step):
            if paced:
                await self.pacing.turn()
            started = time.perf_counter()
            outcome = await apply_entries(
                self.scripts, entries[start : start + step], generations, chunk, self.highlighting, stream
            )
            if outcome.done:
                await self.redis.xack(stream, keys.CONSUMER_GROUP, *outcome.done)
            applied.update(outcome.bands)
            self.tally.add(outcome)
            if outcome.failed:
                log.warning("%d entries left pending for retry: %s", len(outcome.failed), "; ".join(outcome.errors))
            if paced:
                await self.pacing.after(time.perf_counter() - started)
        if applied and len(entries) <= self.pacing.live_batch:  # live events: their answers refreshed
            self.announce(sorted(applied))

    def serving(self) -> contextlib.AbstractContextManager[None]:
        """An answer or a write-through under way (a paced consumer waits for it)."""
        return self.pacing.serving()

    async def publish(self, event: Event) -> Reply[Any]:
        """Write-through: append one event (checked: ``_event_of``) to the stream and apply it
        at once, so that it is visible without waiting for the entries ahead of it in the
        stream. The consumer applies it again in its turn, which changes nothing (applying is
        idempotent)."""
        with self.serving():
            return await self._publish(event)

    async def _publish(self, event: Event) -> Reply[Any]:
        assert self.scripts and self.redis and self.queries
        data = msgspec.json.encode(event)
        # two round trips in all (each may wait for one script call of a backfill)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(keys.LIVE, 1, px=self.pacing.live_window_ms)
                pipe.xadd(stream := self.streams.of_band(event.band), {DATA_FIELD: data})
                pipe.hmget(keys.GENERATION, GENERATION_FIELDS)
                _, added, generations = await pipe.execute()
        except Exception as exc:  # not appended (or not known to be): the caller may retry
            log.exception("write-through failed")
            return refusal(QueryError("internal", f"not appended: {type(exc).__name__}: {exc}"))
        entry_id = added.decode()
        ref = entry_ref(stream, entry_id)  # what the reply names: the id, with its partition's stream
        try:
            outcome = await apply_entries(
                self.scripts,
                [(entry_id, {DATA_FIELD: data})],
                generations=generations_of(generations),
                highlighting=self.highlighting,
                stream=stream,
            )
        except Exception as exc:  # in the stream all the same: the consumer applies it
            return Reply(ok=True, result=Published(id=ref, applied=False, error=f"{type(exc).__name__}: {exc}"))
        if outcome.applied:
            self.queries.changed(event.band)  # the question that follows skips a round trip
            self.announce([event.band])
        # a failure: in the stream all the same, the consumer applies it (or retries)
        error = "; ".join(outcome.errors) if outcome.failed else None
        return Reply(ok=True, result=Published(id=ref, applied=bool(outcome.applied), error=error))

    def announce(self, bands: list[str]) -> None:
        """Tell every process that answers questions (this one too, if it does) that live
        changes to ``bands`` were applied (``CHANGED_CHANNEL``); sent beside the reply or the
        next read, not before them."""
        if self.broker is not None:
            self._background(self._announce(self.broker, bands))

    async def _announce(self, broker: RedisBroker, bands: list[str]) -> None:
        try:
            await broker.publish(bands, channel=self.names.changed)
        except Exception:  # the answers are computed when asked all the same
            log.exception("announcing the changes to %s failed", ", ".join(bands))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task of this service's (cancelled when it stops)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def refresh_soon(self, band: str) -> None:
        """Answer the band's recent questions again ``refresh_delay`` seconds after this
        change (announced: a write-through, or a live event from the stream), unless another
        comes to the band first (then after that one)."""
        self._changes[band] = change = self._changes.get(band, 0) + 1
        self._background(self._refresh(band, change))

    async def _refresh(self, band: str, change: int) -> None:
        assert self.queries
        await asyncio.sleep(self.settings.refresh_delay)
        if self._changes.get(band) != change:
            return  # a later change refreshes
        try:
            await self.queries.refresh(band)
        except Exception:  # the questions are answered when asked all the same
            log.exception("refreshing the answers about %s failed", band)

    async def versioned(self, question: Params[Any]) -> tuple[bytes, str]:
        """A question's answer (JSON) and its version (an HTTP ``ETag``); raises ``QueryError``,
        with code ``internal`` for what went wrong here (logged): whatever a request does, the
        handlers keep serving."""
        assert self.queries
        try:
            with self.serving():
                return await self.queries.versioned(question)
        except QueryError:
            raise
        except Exception as exc:
            log.exception("query %s failed", question.query)
            raise QueryError("internal", f"{type(exc).__name__}: {exc}") from None

    async def readiness(self) -> tuple[dict[str, Any], bool]:
        """Whether this process can answer: Redis reachable, the consumer group there (with
        its lag: entries not yet delivered to it, where Redis reports it, and pending)."""
        assert self.redis
        try:
            found = await group_lag(self.redis, self.streams)
        except Exception as exc:
            return {"ready": False, "redis": f"{type(exc).__name__}: {exc}"}, False
        if found is None:
            return {"ready": False, "redis": "ok", "group": f"{keys.CONSUMER_GROUP} is missing"}, False
        lag, pending = found
        return {"ready": True, "redis": "ok", "lag": lag, "pending": pending}, True

    async def answer(self, question: Params[Any]) -> msgspec.Raw | Reply[Any]:
        """A request's reply: the answer's JSON (``Reply``), or why there is none."""
        try:
            result, _ = await self.versioned(question)
        except QueryError as exc:
            return refusal(exc)
        return msgspec.Raw(b'{"ok":true,"result":' + result + b"}")


@dataclasses.dataclass
class Tally:
    """The consumer's work since its last report: batches, events applied, dead-lettered."""

    streams: Streams = dataclasses.field(default_factory=Streams)
    batches: int = 0
    applied: int = 0
    dead: int = 0

    def add(self, outcome: Any) -> None:
        self.batches += 1
        self.applied += len(outcome.applied)
        self.dead += len(outcome.dead)

    async def report_every(self, redis: Redis, seconds: float) -> None:
        """One INFO line per interval in which something was applied (quiet when idle)."""
        while True:
            await asyncio.sleep(seconds)
            if not (self.batches or self.dead):
                continue
            found = await group_lag(redis, self.streams)
            log.info(
                "applied %d events in %d batches (%.0f/s), dead-lettered %d; lag %s",
                self.applied,
                self.batches,
                self.applied / seconds,
                self.dead,
                found[0] if found else None,
            )
            self.batches = self.applied = self.dead = 0
