"""Polite JSON over HTTP for the importers: httpx, retried with tenacity.

- at most ``rate`` requests a second and ``concurrency`` in flight;
- a 429 or 503 waits what its ``Retry-After`` says (seconds or an HTTP date), then retries;
- timeouts, dropped connections, other 5xx and a body that is not whole JSON (a truncated
  page) are retried with exponential backoff and jitter, ``attempts`` times in all;
- any other status (a 404: a page missing) is a ``FetchError`` at once: the run stops, and
  the next one continues from the checkpoint.

Secrets (API keys) never reach a message or a log: errors name the path without its query,
and httpx's own request log (which prints whole URLs) is kept quiet.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import Any

import httpx
import msgspec
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs each URL, query (API key) included


class FetchError(Exception):
    """A request that failed for good (after its retries, or at once for a client error)."""


class _Again(Exception):
    """A response worth asking again for; ``after`` is the server's Retry-After, if any."""

    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class _Wait:
    """Retry-After when the server gave one (capped), else exponential backoff with jitter."""

    def __init__(self, initial: float, cap: float) -> None:
        self.backoff = wait_exponential_jitter(multiplier=initial, max=cap, jitter=initial)
        self.cap = cap

    def __call__(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Again) and exc.after is not None:
            return min(exc.after, self.cap)
        return float(self.backoff(state))


class Fetcher:
    def __init__(
        self,
        base_url: str,
        rate: float = 2.0,
        concurrency: int = 4,
        timeout: float = 30.0,
        attempts: int = 6,
        backoff: float = 1.0,
        max_wait: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.AsyncClient(timeout=timeout, follow_redirects=True, headers={"User-Agent": "setlist-stats"})
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.slots = asyncio.Semaphore(max(concurrency, 1))
        self.attempts, self.backoff, self.max_wait = attempts, backoff, max_wait
        self._next = 0.0
        self._pace = asyncio.Lock()
        self.secrets: list[str] = []
        self.requests = 0

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    async def _paced(self) -> None:
        async with self._pace:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval

    async def json(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        """The JSON at ``path`` (under the base URL), retried as the module says."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((_Again, httpx.TransportError)),
            stop=stop_after_attempt(self.attempts),
            wait=_Wait(self.backoff, self.max_wait),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(path, params, headers)
        except _Again as exc:
            raise FetchError(self.redact(f"GET {path}: {exc} (after {self.attempts} attempts)")) from None
        except httpx.TransportError as exc:
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__})"
            raise FetchError(self.redact(f"GET {path}: {kind} (after {self.attempts} attempts)")) from None
        raise AssertionError("unreachable")

    async def _once(self, path: str, params: dict[str, Any] | None, headers: dict[str, str] | None) -> Any:
        async with self.slots:
            await self._paced()
            self.requests += 1
            response = await self.client.get(f"{self.base_url}/{path.lstrip('/')}", params=params, headers=headers)
            body = await response.aread()
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Again(f"HTTP {status}", _retry_after(response.headers.get("retry-after")))
        if status >= 400:
            raise FetchError(self.redact(f"GET {path}: HTTP {status}"))
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise _Again(f"the body is not whole JSON ({len(body)} bytes)") from None

    async def aclose(self) -> None:
        await self.client.aclose()
