"""``StatsClient``: ask the service's queries over FastStream request/reply.

    async with StatsClient("redis://localhost:6379/0") as client:
        gaps = await client.query("gaps", band="phish", as_of="2024-06-01", min_plays=5)

Answers are the contract's JSON as plain dicts and lists; an error raises ``QueryError``
(``code``, ``message``, ``parameter``), e.g. ``Band not found``.

Replies come back over one standing subscription per client (``setlist-stats.reply.<id>``),
each matched to its request by correlation id, so a request costs one ``PUBLISH`` (an
``RPUSH`` for a write-through) instead of a subscription of its own (FastStream's
``request``: subscribe, publish, unsubscribe).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from types import TracebackType
from typing import Any

import msgspec
from fast_depends.msgspec import MsgSpecSerializer
from faststream.message import StreamMessage
from faststream.redis import RedisBroker

from projections.params import QUERIES, QueryError

from .app import PUBLISH_LIST, query_subject

__all__ = ["QueryError", "StatsClient"]

_decode = msgspec.json.Decoder().decode


#: The prefix of each client's reply channel.
REPLY_PREFIX = "setlist-stats.reply"


def _as_received(message: StreamMessage[Any]) -> StreamMessage[Any]:
    """A reply's decoder: the message itself, its body left as it came (``_result`` decodes
    it once); FastStream's own would decode the body and hand the message over as a context
    field, resolved in a worker thread."""
    return message


class StatsClient:
    def __init__(self, redis_url: str, timeout: float = 30.0, max_connections: int = 256) -> None:
        self.timeout = timeout
        self.broker = RedisBroker(
            redis_url,
            serializer=MsgSpecSerializer(),
            max_connections=max_connections,
            logger=logging.getLogger("setlist-stats.client"),
        )
        self.replies = f"{REPLY_PREFIX}.{uuid.uuid4().hex}"
        self._waiting: dict[str, asyncio.Future[bytes]] = {}  # correlation id -> its reply

        @self.broker.subscriber(self.replies, decoder=_as_received)
        async def on_reply(message: Any) -> None:
            waiting = self._waiting.get(message.correlation_id)  # removed by its request
            if waiting is not None and not waiting.done():
                waiting.set_result(message.body)

    async def __aenter__(self) -> StatsClient:
        await self.broker.start()  # subscribed to the reply channel before any request
        return self

    async def __aexit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        await self.broker.stop()

    async def query(self, name: str, **params: Any) -> Any:
        """One query's answer; ``None`` parameters are left out (their defaults apply)."""
        if name not in QUERIES:
            raise QueryError("unknown_query", f"unknown query {name!r}; expected one of {', '.join(QUERIES)}")
        body = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in params.items() if v is not None}
        return self._result(await self._request(body, channel=query_subject(name)))

    async def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write-through publish of one event (a live show's next song): it is appended to the
        stream and applied before this returns ``{"id": stream id, "applied": true}``, so the
        next query sees it even while the consumer works through a backlog. An invalid event
        raises ``QueryError`` (code ``invalid_event``, naming the field) and is not appended."""
        result: dict[str, Any] = self._result(await self._request(event, queue=PUBLISH_LIST))
        return result

    async def _request(self, body: Any, channel: str | None = None, queue: str | None = None) -> bytes:
        """Publish ``body`` to a pub/sub ``channel`` or a list (``queue``) and wait for its
        reply; raises ``TimeoutError`` after ``timeout`` seconds."""
        correlation_id = uuid.uuid4().hex
        reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = reply
        try:
            await self.broker.publish(body, channel, list=queue, reply_to=self.replies, correlation_id=correlation_id)
            return await asyncio.wait_for(reply, self.timeout)
        finally:
            self._waiting.pop(correlation_id, None)

    @staticmethod
    def _result(body: bytes) -> Any:
        """The result of a reply, or its error raised as ``QueryError``."""
        reply = _decode(body)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise QueryError(error.get("code", "internal"), error.get("message", "no answer"), error.get("parameter"))
        return reply["result"]

    async def gaps(self, band: str, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.query("gaps", band=band, **params)
        return result

    async def velocity(self, band: str, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.query("velocity", band=band, **params)
        return result

    async def trends(self, band: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.query("trends", band=band, **params)
        return result

    async def stats(self, band: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.query("stats", band=band, **params)
        return result

    async def bustouts(self, band: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.query("bustouts", band=band, **params)
        return result

    async def debuts(self, band: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.query("debuts", band=band, **params)
        return result

    async def song(self, band: str, song_id: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.query("song", band=band, song_id=song_id, **params)
        return result

    async def setlist(self, band: str, show_id: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.query("setlist", band=band, show_id=show_id, **params)
        return result

    async def bands(self, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.query("bands", **params)
        return result
