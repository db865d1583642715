"""Settings, from the environment (every one has a default)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from projections.highlights import Highlighting


def _int(name: str, default: int, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number: int | None = int(value)
    except ValueError:
        number = None
    if number is None or (minimum is not None and number < minimum):
        at_least = f" >= {minimum}" if minimum is not None else ""
        raise SystemExit(f"{name} must be an integer{at_least}, got {value!r}")
    return number


ROLES = ("all", "consumer", "handlers")


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name) or default
    if value not in allowed:
        raise SystemExit(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    #: ``redis://``, ``rediss://`` or ``unix://``; None starts an embedded redis-server
    redis_url: str | None = field(default_factory=lambda: os.environ.get("REDIS_URL") or None)
    #: this consumer's name in the group (unique per process)
    consumer: str = field(
        default_factory=lambda: os.environ.get("CONSUMER_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    )
    #: entries read per batch
    batch_size: int = field(default_factory=lambda: _int("BATCH_SIZE", 1000, minimum=1))
    #: milliseconds an entry may stay pending before another consumer reclaims it
    claim_idle_ms: int = field(default_factory=lambda: _int("CLAIM_IDLE_MS", 30_000))
    #: deliveries after which an entry that keeps failing is parked in the dead-letter stream
    max_deliveries: int = field(default_factory=lambda: _int("MAX_DELIVERIES", 5))
    #: what ``serve`` runs: ``all``, ``consumer`` (the consumer and the reclaimer) or
    #: ``handlers`` (the query handlers and the write-through publish)
    role: str = field(default_factory=lambda: _choice("SERVE_ROLE", ROLES, "all"))
    #: how much ``serve`` lowers its own CPU priority (``os.nice``): e.g. 10 for a
    #: ``consumer`` process, so that on a busy machine the handlers (answers, write-throughs)
    #: and Redis get the CPU before a backfill does
    nice: int = field(default_factory=lambda: _int("NICE", 0))
    #: connections the query side may open (request/reply uses one per request in flight)
    max_connections: int = field(default_factory=lambda: _int("MAX_CONNECTIONS", 256, minimum=1))
    #: requests of one query a process answers at once (each query has its own subscriber;
    #: while one request waits for Redis, the next is taken)
    query_workers: int = field(default_factory=lambda: _int("QUERY_WORKERS", 16, minimum=1))
    #: ``HOST:PORT`` on which ``serve`` also answers HTTP (``service/http.py``); None: no HTTP
    http_addr: str | None = field(default_factory=lambda: os.environ.get("HTTP_ADDR") or None)
    #: the bearer token ``POST /events`` requires; None: writing over HTTP is refused (503)
    api_token: str | None = field(default_factory=lambda: os.environ.get("API_TOKEN") or None, repr=False)
    #: the ``max-age`` of HTTP answers' ``Cache-Control`` (seconds a cache may serve one
    #: without asking again; with its ``ETag``, asking again is a cheap 304)
    http_max_age: int = field(default_factory=lambda: _int("HTTP_MAX_AGE", 0, minimum=0))
    #: seconds between the consumer's INFO lines (events applied, dead-lettered, lag)
    log_interval: float = field(default_factory=lambda: float(_int("LOG_INTERVAL", 10, minimum=1)))
    #: the deployment's name: it prefixes every pub/sub channel and list of the service, which
    #: Redis shares across database numbers (None: from the URL, see ``namespace``)
    instance: str | None = field(default_factory=lambda: os.environ.get("INSTANCE") or None)
    # highlights (projections/highlights.py): the live window in days either side of today, the
    # bustout thresholds (shows: per band with HIGHLIGHT_BUSTOUT_SHOWS_BY_BAND=phish=101,goose=60)
    highlight_days: int = field(default_factory=lambda: _int("HIGHLIGHT_DAYS", 2, minimum=0))
    bustout_shows: int = field(default_factory=lambda: _int("HIGHLIGHT_BUSTOUT_SHOWS", 101, minimum=1))
    bustout_days: int = field(default_factory=lambda: _int("HIGHLIGHT_BUSTOUT_DAYS", 365, minimum=1))
    bustout_shows_by_band: dict[str, int] = field(default_factory=lambda: _by_band("HIGHLIGHT_BUSTOUT_SHOWS_BY_BAND"))
    # the day taken as today for the live window (YYYY-MM-DD; default: today, UTC): to replay a
    # past show as if live, in a demo or a test
    highlight_today: str | None = field(default_factory=lambda: os.environ.get("HIGHLIGHT_TODAY") or None)

    def highlighting(self) -> Highlighting:
        today = None
        if self.highlight_today:
            try:
                fixed = dt.date.fromisoformat(self.highlight_today)
            except ValueError:
                raise SystemExit(f"HIGHLIGHT_TODAY must be a date YYYY-MM-DD, got {self.highlight_today!r}") from None
            today = lambda: fixed  # noqa: E731
        return Highlighting(
            days=self.highlight_days,
            bustout_shows=self.bustout_shows,
            bustout_days=self.bustout_days,
            per_band=dict(self.bustout_shows_by_band),
            **({"today": today} if today else {}),
        )


def namespace(url: str, instance: str | None = None) -> str:
    """The prefix of a deployment's channels and lists: ``instance`` when given, else
    ``setlist-stats`` for database 0 and ``setlist-stats.db<N>`` for database N of the URL.
    Keys live in their database; pub/sub channels do not, so two deployments on one Redis
    would otherwise answer each other's questions."""
    if instance:
        return instance
    parsed = urlsplit(url)
    db = parse_qs(parsed.query).get("db", [""])[0] or parsed.path.lstrip("/") or "0"
    return "setlist-stats" if db in ("", "0") else f"setlist-stats.db{db}"


def _by_band(name: str) -> dict[str, int]:
    """``band=number,...`` from the environment variable ``name``."""
    out = {}
    for item in filter(None, (os.environ.get(name) or "").split(",")):
        band, _, number = item.partition("=")
        if not number.strip().isdigit() or int(number) < 1:
            raise SystemExit(f"{name}: expected band=number (a whole number >= 1), got {item!r}")
        out[band.strip()] = int(number)
    return out


def http_address(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a host and a port, or exit saying why."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SystemExit(f"HTTP_ADDR must be HOST:PORT, e.g. 127.0.0.1:8000, got {addr!r}")
    return host.strip("[]"), int(port)


def redacted(url: str | None) -> str:
    """A Redis URL safe to log: any user and password replaced."""
    if not url:
        return "(embedded)"
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
