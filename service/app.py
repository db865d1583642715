"""The FastStream application: the events consumer and the query handlers.

``create_app(settings)`` builds it; ``setlist-stats serve`` (or ``faststream run
service.app:create_app --factory``) runs it. The handlers stay a few lines: the projection
logic is in ``projections``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fast_depends.msgspec import MsgSpecSerializer
from faststream import FastStream
from faststream.middlewares import AckPolicy, ExceptionMiddleware
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from faststream.redis.message import RedisBatchStreamMessage as BatchMessage
from faststream.specification import AsyncAPI

from projections import keys
from projections.contract import QUERIES, Params, Query, QueryError, parse
from projections.events import Event, InvalidEvent, decode_event
from projections.highlights import Pushed
from projections.streams import Streams

from .channels import (
    CHANGED_CHANNEL,
    EXPIRES_HEADER,
    PUBLISH_LIST,
    QUERY_SUBJECT,
    REPLY_PREFIX,
    Names,
    query_subject,
)
from .config import Settings
from .connect import broker as connect_broker
from .connect import channel_broker, partitions
from .runtime import STOP_TIMEOUT, Service, ensure_group, refusal

log = logging.getLogger("setlist-stats")

#: The AsyncAPI document's head (``setlist-stats docs asyncapi``, ``faststream docs gen``).
SPECIFICATION = AsyncAPI(
    title="setlist-stats",
    version="1",
    description="Live song statistics for touring bands. Events in on the stream ss:events; each query "
    "answered over request/reply on setlist-stats.query.<name> (the body: its parameters; the reply, on the "
    "channel the request names: {ok, result} or {ok, error}); live events written through on the list "
    "setlist-stats.publish.",
    schema_version="3.0.0",
)


def _broker_log() -> logging.Logger:
    """FastStream's logger: its lines per subscriber and task (INFO) only when debugging, so
    that ``serve`` at INFO says what the service does (``runtime.Tally``) and little else."""
    broker = logging.getLogger("setlist-stats.broker")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        broker.setLevel(logging.WARNING)
    return broker


async def _raw_batch(message: Any, original_parser: Any) -> BatchMessage:
    """Keep the entries as they are: decoding and validation are the consumer's own."""
    return BatchMessage(
        raw_message=message,
        body=b"",
        headers={},
        batch_headers=[],
        reply_to="",
        content_type=None,
        path={},
        consumer=None,  # type: ignore[arg-type]  # acked by the consumer itself, not by the message
        group=keys.CONSUMER_GROUP,
    )


def _register_consumer(broker: RedisBroker, service: Service, stream: str) -> None:
    """The consumer of one partition's stream: batches read through its consumer group."""
    settings = service.settings

    @broker.subscriber(
        stream=StreamSub(
            stream,
            group=keys.CONSUMER_GROUP,
            consumer=settings.consumer,
            batch=True,
            max_records=settings.batch_size,
            polling_interval=100,
        ),
        parser=_raw_batch,
        ack_policy=AckPolicy.MANUAL,
        title=stream,
    )
    async def on_events(message: RedisBatchStreamMessage) -> None:
        await service.consume(message, stream)


def _parameters_of(query: Query) -> Any:
    """A query subscriber's decoder: the request's body checked against the query's
    parameters (``contract.parse``); a refusal raises ``QueryError``, which the broker's
    ``ExceptionMiddleware`` sends back as the reply."""

    async def decode(message: Any, original_decoder: Any) -> Params[Any]:
        return parse(query.name, message.body)

    return decode


async def _event_of(message: Any, original_decoder: Any) -> Event:
    """The write-through's decoder: the body checked as an event, or refused (``QueryError``
    with code ``invalid_event``, naming the field); a request whose caller has given up
    (``EXPIRES_HEADER`` passed: it waited in the list with no ``serve`` to take it) is
    dropped, not appended."""
    expires = (message.headers or {}).get(EXPIRES_HEADER)
    if expires and float(expires) < time.time():
        raise QueryError("expired", "the caller gave up waiting before this write-through was taken; not appended")
    try:
        return decode_event(message.body)
    except InvalidEvent as exc:
        raise QueryError("invalid_event", str(exc), exc.field) from None


def create_app(settings: Settings | None = None, url: str | None = None, streams: Streams | None = None) -> FastStream:
    """The FastStream app on ``url`` (default: ``settings.redis_url``), for the event log's
    partitions ``streams`` (default: as recorded in that Redis, ``connect.partitions``)."""
    settings = settings or Settings.load()
    url = url or settings.redis_url
    if not url:
        raise SystemExit("REDIS_URL is not set (setlist-stats serve starts an embedded Redis)")
    streams = streams or partitions(url, settings)
    refused = ExceptionMiddleware()
    refused.add_handler(QueryError, publish=True)(refusal)  # a request refused by its decoder
    options: dict[str, Any] = {
        "serializer": MsgSpecSerializer(),
        "max_connections": settings.max_connections,
        "logger": _broker_log(),
        "log_level": logging.DEBUG,
        "middlewares": [refused],
    }
    broker = connect_broker(url, settings, **options)
    # on a cluster, the channels (questions, replies, live changes) on a broker of their own
    channels = channel_broker(url, settings, **options) or broker
    service = Service(settings, url, channels, streams)
    names = service.names
    app = FastStream(broker, *([channels] if channels is not broker else []), logger=log, specification=SPECIFICATION)
    app.on_startup(service.start)
    app.after_shutdown(service.stop)

    if settings.role in ("all", "consumer"):
        for stream in streams.names:  # one subscriber per partition, each with its group
            _register_consumer(broker, service, stream)

    if settings.role in ("all", "handlers"):
        for query in QUERIES.values():
            _register_query(channels, service, query, settings.query_workers)

        @channels.subscriber(names.query, max_workers=settings.query_workers, title=names.query)
        async def on_any_query(body: Any) -> Any:
            """Any query: ``{"query": NAME, "params": {...}}``; the reply as each query's own."""
            if not isinstance(body, dict) or not isinstance(body.get("query"), str):
                return refusal(QueryError("invalid_request", 'a request must be {"query": NAME, "params": {...}}'))
            try:
                question = parse(body["query"], body.get("params") or {})
            except QueryError as exc:
                return refusal(exc)
            return await service.answer(question)

        # a list: each write-through is taken by one process
        @broker.subscriber(list=names.publish, decoder=_event_of, title=names.publish)
        async def on_publish(event: Event) -> Any:
            """Write-through publish: the event is appended to the stream and applied before
            the reply, ``{"ok": true, "result": {"id": stream id, "applied": bool}}``."""
            return await service.publish(event)

        broker.publisher(
            stream=streams.names[0],
            schema=Event,
            title=streams.names[0] if streams.count == 1 else "ss:{events.<count>.<partition>.<k>}",
            description="The event log: each entry's field __data__ holds one event's JSON (any client may XADD). "
            "With several partitions (STREAM_PARTITIONS), a band's events go to its partition's stream "
            "(projections/streams.py).",
        )
        broker.publisher(
            stream=keys.HIGHLIGHTS,
            schema=Pushed,
            title=keys.HIGHLIGHTS,
            description="Highlights of live plays (debuts, bustouts, milestones, first plays of a year), each "
            "pushed once, and their retractions (same id): JSON in each entry's field __data__. Any "
            "subscriber of this stream may read them; GET /live serves them as Server-Sent Events.",
        )

        @channels.subscriber(channel=names.changed)  # a channel: every process hears it
        async def on_changed(bands: list[str]) -> None:
            for band in bands:
                service.refresh_soon(band)

    app.context.set_global("service", service)
    return app


def documented_app() -> FastStream:
    """The app as the AsyncAPI document shows it (every part, whatever ``SERVE_ROLE`` says;
    no Redis needed): ``faststream docs gen service.app:documented_app --factory``."""
    settings = Settings.load(role="all")
    return create_app(settings, settings.redis_url or "redis://localhost:6379", Streams(settings.stream_partitions))


def asyncapi(yaml: bool = False) -> str:
    """The AsyncAPI document (JSON, or YAML)."""
    document = documented_app().schema.to_specification()
    return document.to_yaml() if yaml else document.to_json()


def _register_query(broker: RedisBroker, service: Service, query: Query, workers: int) -> None:
    """The request/reply handler of one query, typed with its parameters' Struct (checked by
    its decoder), and its reply's schema documented on the reply channels."""

    async def on_query(params: Params[Any]) -> Any:
        return await service.answer(params)

    on_query.__name__ = f"query_{query.name}"
    on_query.__doc__ = query.summary
    on_query.__annotations__ = {"params": query.params, "return": Any}
    subject = service.names.subject(query.name)
    broker.subscriber(subject, max_workers=workers, decoder=_parameters_of(query), title=subject)(on_query)
    broker.publisher(
        f"{service.names.replies}.{{client}}",
        schema=query.reply,
        title=f"{subject}:reply",
        description=f"The reply to {subject}, on the channel its request names (reply_to).",
    )


@contextlib.asynccontextmanager
async def running(settings: Settings | None = None, url: str | None = None) -> AsyncIterator[FastStream]:
    """The app started (consumer and query handlers) for the duration of the context."""
    async with started(create_app(settings, url)) as app:
        yield app


@contextlib.asynccontextmanager
async def started(app: FastStream) -> AsyncIterator[FastStream]:
    """``app`` started for the duration of the context.

    Stopping is bounded: a stop that does not finish within ``2 * STOP_TIMEOUT`` seconds is
    logged with where every task waits, then forced (``_force_stop``). Nothing is lost by
    that: what was read and not acked stays pending and is reclaimed by the next consumer.
    """
    await app.start()
    try:
        yield app
    finally:
        stopping = asyncio.ensure_future(app.stop())
        done, _ = await asyncio.wait({stopping}, timeout=2 * STOP_TIMEOUT)
        if done:
            stopping.result()
        else:
            log.error("the app did not stop within %s s; forced:\n%s", 2 * STOP_TIMEOUT, _stacks(stopping))
            stopping.cancel()
            await _force_stop(app)


async def _force_stop(app: FastStream) -> None:
    """Stop what a stuck ``app.stop()`` left running: no consuming or answering goes on behind
    the caller's back, and no connection is left open."""
    for broker in app.brokers:
        cancelled = [task for subscriber in broker.subscribers for task in getattr(subscriber, "tasks", ())]
        for task in cancelled:
            task.cancel()
        if cancelled:  # their cancellation runs (a read under way gives its connection back)
            await asyncio.wait(cancelled, timeout=STOP_TIMEOUT)
        for subscriber in broker.subscribers:
            for name in ("send_stream", "receive_stream"):  # the queue of a concurrent subscriber
                stream = getattr(subscriber, name, None)
                if stream is not None:
                    stream.close()
            subscription = getattr(subscriber, "subscription", None)  # a pub/sub connection
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(subscription.aclose(), STOP_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(broker.config.disconnect(), STOP_TIMEOUT)
    service = app.context.get("service")
    if isinstance(service, Service):
        await service.stop()


def _stacks(task: asyncio.Task[Any]) -> str:
    """Where a task and every other task of the loop wait, for a log line."""
    out = io.StringIO()
    for each in [task, *(t for t in asyncio.all_tasks() if t is not task)]:
        each.print_stack(file=out)
    return out.getvalue()


__all__ = [
    "CHANGED_CHANNEL",
    "EXPIRES_HEADER",
    "PUBLISH_LIST",
    "QUERY_SUBJECT",
    "REPLY_PREFIX",
    "STOP_TIMEOUT",
    "Names",
    "Service",
    "asyncapi",
    "create_app",
    "documented_app",
    "ensure_group",
    "query_subject",
    "refusal",
    "running",
    "started",
]
