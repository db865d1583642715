"""Every Redis client of the service, made in one place (``redis_client``): what it does when
Redis goes away for a moment (a restart, a failover) is the same everywhere. A command that
fails to connect, or whose connection breaks, is sent again on a new connection after a
backoff (exponential with jitter, from 10 ms up to ``redis_backoff_cap`` seconds), up to
``redis_retries`` times, before the error reaches the caller. What is sent again is safe to
repeat: reads, appends of events (applying is idempotent, a duplicate changes nothing) and
script calls (idempotent applies)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

from .config import Settings


def retry_policy(settings: Settings) -> Retry:
    return Retry(
        ExponentialWithJitterBackoff(base=0.01, cap=settings.redis_backoff_cap),
        settings.redis_retries,
        supported_errors=(ConnectionError, TimeoutError, OSError),
    )


def redis_client(url: str, settings: Settings | None = None, **options: Any) -> Redis:
    """A client of the Redis at ``url`` that reconnects with backoff (see the module's text)."""
    settings = settings or Settings.load()
    return Redis.from_url(url, retry=retry_policy(settings), **options)
