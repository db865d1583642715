"""Following the highlights stream (``ss:highlights``): one reader per process, fanned out to
every follower; a follower that gives the last entry id it saw (SSE's ``Last-Event-ID``) gets
what it missed first, nothing twice.

Used by ``GET /live`` and ``GET /live/{band}`` (Server-Sent Events: ``event: highlight`` or
``event: retracted``, ``id:`` the stream entry id, ``data:`` the JSON) and by
``setlist-stats highlights --follow``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from litestar import Request, get
from litestar.params import PathParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from redis.asyncio import Redis

from projections import keys
from projections.apply import stream_id_key
from projections.events import BAND_PATTERN
from projections.values import stream_entries, text

from .connect import redis_client

log = logging.getLogger("setlist-stats")

#: Seconds one blocking read waits before it reads again (and notices it was stopped).
BLOCK_MS = 5000
#: Entries read from the stream at a time.
COUNT = 200

_STREAM_ID = re.compile(r"^\d+-\d+$")

Entry = tuple[str, bytes]  # stream entry id, the highlight's JSON


def _band_of(data: bytes) -> str | None:
    """The band of a highlight's JSON, without decoding all of it."""
    at = data.find(b'"band":"')
    if at < 0:
        return None
    end = data.find(b'"', at + 8)
    return data[at + 8 : end].decode()


class Fanout:
    """One blocking reader of the stream, its entries handed to every follower's queue."""

    def __init__(self, redis: Redis, backlog: int = 1000, keepalive: float = 15.0) -> None:
        self.redis = redis
        self.backlog = backlog  # entries a follower may fall behind by before it is dropped
        self.keepalive = keepalive  # seconds without a highlight before a follower gets a None
        self.followers: set[asyncio.Queue[Entry | None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.closing = False

    async def _last_id(self) -> str:
        """The stream's newest entry id ("0-0" while it has none): reading goes on from it."""
        try:
            return text((await self.redis.xinfo_stream(keys.HIGHLIGHTS))["last-generated-id"])
        except Exception:  # no stream yet
            return "0-0"

    async def _read(self) -> None:
        last = await self._last_id()
        while True:
            try:
                reply = await self.redis.xread({keys.HIGHLIGHTS: last}, block=BLOCK_MS, count=COUNT)
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.closing:  # redis-py turns a cancelled blocking read into a TimeoutError
                    return
                log.exception("reading %s failed; again in a second", keys.HIGHLIGHTS)
                await asyncio.sleep(1)
                continue
            for _, entries in cast(list[tuple[bytes, Any]], reply or []):
                for entry_id, fields in stream_entries(entries):
                    last = entry_id
                    data = fields.get(b"__data__", b"")
                    for queue in list(self.followers):
                        try:
                            queue.put_nowait((entry_id, data))
                        except asyncio.QueueFull:  # too far behind: ended; it reconnects and catches up
                            self.followers.discard(queue)
                            while not queue.empty():
                                queue.get_nowait()
                            queue.put_nowait(None)

    def _start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        self.closing = True
        for queue in list(self.followers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def follow(self, band: str | None = None, after: str | None = None) -> AsyncIterator[Entry | None]:
        """The highlights (of ``band``, else every band's) from after entry ``after`` (else from
        now on), as they come; ``None`` now and then when nothing came (a keep-alive)."""
        queue: asyncio.Queue[Entry | None] = asyncio.Queue(self.backlog)
        self.followers.add(queue)  # before the catch-up: what arrives meanwhile waits in the queue
        self._start()
        after = after or await self._last_id()
        sent = after
        try:
            if after != "0-0":
                for entry_id, fields in stream_entries(
                    await self.redis.xrange(keys.HIGHLIGHTS, min=f"({after}", max="+")
                ):
                    data = fields.get(b"__data__", b"")
                    sent = entry_id
                    if band is None or _band_of(data) == band:
                        yield entry_id, data
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=self.keepalive)
                except TimeoutError:
                    yield None
                    continue
                if item is None:
                    return
                entry_id, data = item
                if sent and stream_id_key(entry_id) <= stream_id_key(sent):
                    continue
                sent = entry_id
                if band is None or _band_of(data) == band:
                    yield entry_id, data
        finally:
            self.followers.discard(queue)


def sse_routes(service: Any) -> list[Any]:
    """``GET /live`` and ``GET /live/{band}``: the highlights as Server-Sent Events."""

    async def events(request: Request[Any, Any, Any], band: str | None) -> AsyncIterator[ServerSentEventMessage]:
        assert service.fanout is not None
        after = request.headers.get("last-event-id") or None
        if after and not _STREAM_ID.match(after):
            after = None  # not one of ours: from now on
        async for item in service.fanout.follow(band, after):
            if item is None:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            entry_id, data = item
            kind = "retracted" if b'"type":"HighlightRetracted"' in data else "highlight"
            yield ServerSentEventMessage(data=data.decode(), event=kind, id=entry_id)

    @get("/live", summary="Every band's highlights as they are pushed (Server-Sent Events)", tags=["live"])
    async def live_all(request: Request[Any, Any, Any]) -> ServerSentEvent:
        return ServerSentEvent(events(request, None))

    @get("/live/{band:str}", summary="One band's highlights as they are pushed (Server-Sent Events)", tags=["live"])
    async def live_band(
        request: Request[Any, Any, Any], band: Annotated[str, PathParameter(pattern=BAND_PATTERN)]
    ) -> ServerSentEvent:
        return ServerSentEvent(events(request, band))

    return [live_all, live_band]


def line_of(data: bytes) -> str:
    """A highlight as one line of text, for a terminal."""
    from projections.highlights import Highlight, decode

    h = decode(data)
    what = {"debut": "DEBUT", "bustout": "BUSTOUT", "bustout_days": "BUSTOUT", "milestone": "MILESTONE"}
    label = what.get(h.kind, "FIRST OF THE YEAR")
    where = f"{h.date} {h.band} show {h.show_id} #{h.position}"
    if not isinstance(h, Highlight):
        return f"{where}  retracted: {label.lower()} of {h.song_id}"
    song = h.song_title or h.song_id
    if h.kind in ("bustout", "bustout_days"):
        detail = f"first in {h.gap_shows} shows, {h.gap_days} days (last {h.previous_play})"
    elif h.kind == "milestone":
        detail = f"play number {h.play_number}"
    elif h.kind == "first_of_year":
        detail = f"last played {h.previous_play}"
    else:
        detail = "first time played"
    return f"{where}  {label}: {song} - {detail}"


async def print_highlights(url: str, band: str | None, follow: bool, as_json: bool, last: int) -> int:
    """``setlist-stats highlights``: the last ``last`` highlights (of ``band``), then, with
    ``follow``, each as it is pushed, until interrupted."""
    redis = redis_client(url)

    def show(entry_id: str, data: bytes) -> None:
        if band is None or _band_of(data) == band:
            print(data.decode() if as_json else f"{entry_id}  {line_of(data)}", flush=True)

    try:
        entries = stream_entries(await redis.xrevrange(keys.HIGHLIGHTS, count=last * (1 if band is None else 20)))
        mine = [(i, f.get(b"__data__", b"")) for i, f in reversed(entries)]
        mine = [(i, d) for i, d in mine if band is None or _band_of(d) == band][-last:]
        for entry_id, data in mine:
            show(entry_id, data)
        if follow:
            fanout = Fanout(redis)
            try:
                async for item in fanout.follow(band, entries[0][0] if entries else None):
                    if item is not None:
                        show(*item)
            finally:
                await fanout.close()
    finally:
        await redis.aclose()
    return 0
