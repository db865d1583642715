"""Every Redis client and broker of the service, made in one place: what they do when Redis
goes away for a moment (a restart, a failover) is the same everywhere, and so is whether they
speak to one Redis or to a Redis Cluster (``REDIS_CLUSTER``).

A command that fails to connect, or whose connection breaks, is sent again on a new
connection after a backoff (exponential with jitter, from 10 ms up to ``redis_backoff_cap``
seconds), up to ``redis_retries`` times, before the error reaches the caller. What is sent
again is safe to repeat: reads, appends of events (applying is idempotent, a duplicate changes
nothing) and script calls (idempotent applies). On a cluster, redis-py's cluster client
routes each command to the node holding its key's slot and follows the cluster as it changes.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import anyio
import redis
from faststream._internal.endpoint.subscriber.mixins import ConcurrentMixin
from faststream.redis import RedisBroker, RedisClusterBroker
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

from projections import keys
from projections.streams import Streams

from .config import Settings, namespace


def retry_policy(settings: Settings) -> Retry:
    return Retry(
        ExponentialWithJitterBackoff(base=0.01, cap=settings.redis_backoff_cap),
        settings.redis_retries,
        supported_errors=(ConnectionError, TimeoutError, OSError),
    )


def redis_client(url: str, settings: Settings | None = None, **options: Any) -> Redis:
    """A client of the Redis (or, with ``REDIS_CLUSTER``, the Redis Cluster) at ``url`` that
    reconnects with backoff (see the module's text). A cluster client takes the same commands,
    pipelines and scripts (each call's keys in one slot), so it is typed as one."""
    settings = settings or Settings.load()
    if settings.redis_cluster:
        options.pop("health_check_interval", None)
        return cast(Redis, RedisCluster.from_url(url, retry=retry_policy(settings), **options))
    return Redis.from_url(url, retry=retry_policy(settings), **options)


class ClusterBroker(RedisClusterBroker):
    """FastStream's Redis Cluster broker, its channel subscribers with ``max_workers`` started
    as on one Redis: faststream 0.7.8 starts a cluster channel subscriber without opening the
    queue its workers read (every message is then lost to a ``ClosedResourceError``)."""

    def _make_channel_subscriber(self, channel: Any, **kwargs: Any) -> Any:
        sub = super()._make_channel_subscriber(channel, **kwargs)
        if isinstance(sub, ConcurrentMixin):
            subscribe = sub.start

            async def start() -> None:
                if sub.subscription:
                    return
                sub.send_stream, sub.receive_stream = anyio.create_memory_object_stream(max_buffer_size=sub.max_workers)
                await subscribe()
                sub.start_consume_task()

            sub.start = start  # type: ignore[method-assign]
        return sub


def broker(url: str, settings: Settings | None = None, **options: Any) -> RedisBroker:
    """A FastStream broker on ``url``: Redis, or Redis Cluster with ``REDIS_CLUSTER``."""
    settings = settings or Settings.load()
    return (ClusterBroker if settings.redis_cluster else RedisBroker)(url, **options)


def channel_broker(url: str, settings: Settings | None = None, **options: Any) -> RedisBroker | None:
    """On a Redis Cluster, the broker of the pub/sub channels (questions, replies, live
    changes): a plain one, on the deployment's pub/sub node (``pubsub_url``). None on one
    Redis: the one broker carries channels too.

    Plain pub/sub on one node is what FastStream serves best: its cluster broker reads
    channels through one thread (20 questions at once timed out there), and it cannot
    subscribe to sharded channels. Measured here (tests/bench_pubsub.py, 16 requests at once,
    p50): plain pub/sub on one node 3.1-4.5 ms, sharded pub/sub 3.4 ms, plain pub/sub between
    two nodes 43 ms (the cluster bus carries each message). So every process of a deployment
    meets on one node, as sharded pub/sub would place it."""
    settings = settings or Settings.load()
    if not settings.redis_cluster:
        return None
    return RedisBroker(pubsub_url(url, namespace(url, settings.instance)), **options)


def pubsub_url(url: str, prefix: str) -> str:
    """The URL of the node holding the slot of the deployment's namespace ``prefix``, with the
    scheme, credentials and options of ``url`` (any node of the cluster): the node every
    process of the deployment publishes and subscribes on, whichever node its REDIS_URL names."""
    client: Any = redis.RedisCluster.from_url(url)
    try:
        node = client.get_node_from_key(prefix)
    finally:
        client.close()
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{node.host}:{node.port}" if credentials else f"{node.host}:{node.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def partitions(url: str, settings: Settings | None = None) -> Streams:
    """The deployment's event log partitions (``projections/streams.py``): the number recorded
    in Redis, recorded now from ``STREAM_PARTITIONS`` if none is yet. A ``STREAM_PARTITIONS``
    set to another number stops the program, saying how to change it."""
    settings = settings or Settings.load()
    client: Any = (redis.RedisCluster if settings.redis_cluster else redis.Redis).from_url(url)
    try:
        client.set(keys.PARTITIONS, settings.stream_partitions, nx=True)
        count = int(client.get(keys.PARTITIONS))
    finally:
        client.close()
    if "stream_partitions" in settings.model_fields_set and count != settings.stream_partitions:
        raise SystemExit(
            f"STREAM_PARTITIONS is {settings.stream_partitions}, but this deployment's event log has {count} "
            f"partitions: to change it, run `setlist-stats repartition {settings.stream_partitions}` (docs/cluster.md)"
        )
    return Streams(count)


async def partitions_of(client: Redis, settings: Settings | None = None) -> Streams:
    """``partitions`` from a running client (for producers: ingest, replays, rebuilds)."""
    settings = settings or Settings.load()
    await client.set(keys.PARTITIONS, settings.stream_partitions, nx=True)
    return Streams(int(await client.get(keys.PARTITIONS) or settings.stream_partitions))
