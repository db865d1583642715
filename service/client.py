"""``StatsClient``: ask the service's queries over FastStream request/reply.

    async with StatsClient("redis://localhost:6379/0") as client:
        overdue = await client.gaps("phish", as_of="2024-06-01", min_plays=5)  # list[GapRow]
        print(overdue[0].song_title, overdue[0].days_since_played)
        raw = await client.query("gaps", band="phish")  # the same answer as plain JSON values

Each query of ``projections.contract.QUERIES`` is a method named after it (its required
parameters positional, in order: ``band``, then ``song_id`` or ``show_id``), returning the
answer's Structs; ``ask(GapsParams(...))`` is the same, typed for mypy; ``query(name,
**params)`` returns plain dicts and lists. An error raises ``QueryError`` (``code``,
``message``, ``parameter``), e.g. ``Band not found``.

Replies come back over one standing subscription per client (``setlist-stats.reply.<id>``),
each matched to its request by correlation id, so a request costs one ``PUBLISH`` (an
``RPUSH`` for a write-through) instead of a subscription of its own (FastStream's
``request``: subscribe, publish, unsubscribe).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

import msgspec
from fast_depends.msgspec import MsgSpecSerializer
from faststream.message import StreamMessage
from faststream.redis import RedisBroker

from projections.contract import QUERIES, Params, Query, QueryError, Reply

from .channels import EXPIRES_HEADER, Names
from .connect import ClusterBroker, pubsub_url

__all__ = ["QueryError", "StatsClient"]

A = TypeVar("A")
_decode = msgspec.json.Decoder(Reply[Any]).decode


@functools.cache
def _reply_decoder(answer: Any) -> Callable[[bytes], Reply[Any]]:
    return msgspec.json.Decoder(Reply[answer]).decode


def _as_received(message: StreamMessage[Any]) -> StreamMessage[Any]:
    """A reply's decoder: the message itself, its body left as it came (``_result`` decodes
    it once); FastStream's own would decode the body and hand the message over as a context
    field, resolved in a worker thread."""
    return message


class StatsClient:
    def __init__(
        self,
        redis_url: str,
        timeout: float = 30.0,
        max_connections: int = 256,
        instance: str | None = None,
        cluster: bool | None = None,
    ) -> None:
        self.timeout = timeout
        # the deployment's channels: from the URL's database, or INSTANCE (as the service's)
        self.names = Names.of(redis_url, instance or os.environ.get("INSTANCE") or None)
        # a Redis Cluster's node (``cluster``, else REDIS_CLUSTER, as the service's)
        if cluster is None:
            cluster = os.environ.get("REDIS_CLUSTER", "").lower() in ("1", "true", "yes", "on")
        # the channels (questions, replies) on a plain broker, on a cluster too (see
        # connect.channel_broker); the write-through list, a key, through a cluster one there
        self.lists: RedisBroker | None = ClusterBroker(redis_url, serializer=MsgSpecSerializer()) if cluster else None
        self.broker = RedisBroker(
            pubsub_url(redis_url, self.names.prefix) if cluster else redis_url,
            serializer=MsgSpecSerializer(),
            max_connections=max_connections,
            logger=logging.getLogger("setlist-stats.client"),
        )
        self.replies = f"{self.names.replies}.{uuid.uuid4().hex}"
        self._waiting: dict[str, asyncio.Future[bytes]] = {}  # correlation id -> its reply

        @self.broker.subscriber(self.replies, decoder=_as_received)
        async def on_reply(message: Any) -> None:
            waiting = self._waiting.get(message.correlation_id)  # removed by its request
            if waiting is not None and not waiting.done():
                waiting.set_result(message.body)

    async def __aenter__(self) -> StatsClient:
        await self.broker.start()  # subscribed to the reply channel before any request
        if self.lists is not None:
            await self.lists.start()
        return self

    async def __aexit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        await self.broker.stop()
        if self.lists is not None:
            await self.lists.stop()

    async def query(self, name: str, **params: Any) -> Any:
        """One query's answer as plain JSON values; ``None`` parameters are left out (their
        defaults apply)."""
        if name not in QUERIES:
            raise QueryError("unknown_query", f"unknown query {name!r}; expected one of {', '.join(QUERIES)}")
        body = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in params.items() if v is not None}
        return self._result(_decode(await self._request(body, channel=self.names.subject(name))))

    async def ask(self, params: Params[A]) -> A:
        """The answer to a question given as its parameters' Struct, as the answer's Structs."""
        reply = await self._request(msgspec.json.encode(params), channel=self.names.subject(params.query))
        result: A = self._result(_reply_decoder(QUERIES[params.query].answer)(reply))
        return result

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        """``client.gaps(band, **params)`` and the like: one method per query (see the module)."""
        query = QUERIES.get(name)
        if query is None:
            raise AttributeError(name)
        return functools.partial(self._named, query)

    async def _named(self, query: Query, *args: Any, **params: Any) -> Any:
        required = [f.name for f in query.fields() if f.required]
        if len(args) > len(required):
            raise TypeError(f"{query.name}() takes {len(required)} positional arguments ({', '.join(required)})")
        params.update(zip(required, args, strict=False))
        body = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in params.items() if v is not None}
        reply = await self._request(body, channel=self.names.subject(query.name))
        return self._result(_reply_decoder(query.answer)(reply))

    async def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write-through publish of one event (a live show's next song): it is appended to the
        stream and applied before this returns ``{"id": stream id, "applied": true}``, so the
        next query sees it even while the consumer works through a backlog. An invalid event
        raises ``QueryError`` (code ``invalid_event``, naming the field) and is not appended."""
        result: dict[str, Any] = self._result(
            _decode(await self._request(event, queue=self.names.publish, expires=True))
        )
        return result

    async def _request(
        self, body: Any, channel: str | None = None, queue: str | None = None, expires: bool = False
    ) -> bytes:
        """Publish ``body`` to a pub/sub ``channel`` or a list (``queue``) and wait for its
        reply; raises ``TimeoutError`` after ``timeout`` seconds. With ``expires``, the request
        carries the time it is given up at (``EXPIRES_HEADER``): a handler that takes it later
        (a ``serve`` started after the caller gave up) drops it instead of carrying it out."""
        correlation_id = uuid.uuid4().hex
        reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = reply
        headers = {EXPIRES_HEADER: f"{time.time() + self.timeout:.3f}"} if expires else None
        try:
            broker = self.lists if queue is not None and self.lists is not None else self.broker
            await broker.publish(
                body, channel, list=queue, reply_to=self.replies, correlation_id=correlation_id, headers=headers
            )
            return await asyncio.wait_for(reply, self.timeout)
        finally:
            self._waiting.pop(correlation_id, None)

    @staticmethod
    def _result(reply: Reply[Any]) -> Any:
        """The result of a reply, or its error raised as ``QueryError``."""
        if not reply.ok:
            error = reply.error
            if error is None:
                raise QueryError("internal", "no answer")
            raise QueryError(error.code, error.message, error.parameter)
        return reply.result
