"""Settings: one object (``Settings``), read from the environment by pydantic-settings. Every
field has a default; a field's environment variable is its name in capitals unless its
``alias`` says otherwise. A bad value stops the program with one line naming the variable
and what it allows (``Settings.load``); the API token and any password in the Redis URL
never appear in a repr or a log."""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from projections.highlights import Highlighting

from .pacing import Pacing

ROLES = ("all", "consumer", "handlers")


def _env(name: str) -> Any:
    """A field read from the environment variable ``name`` (and set by its field name in code)."""
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True, env_ignore_empty=True, validate_by_name=True, validate_by_alias=True, extra="ignore"
    )

    #: ``redis://``, ``rediss://`` or ``unix://``; None starts an embedded redis-server
    redis_url: str | None = None
    #: this consumer's name in the group (unique per process)
    consumer: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}", validation_alias=_env("CONSUMER_NAME")
    )
    #: entries read per batch
    batch_size: int = Field(1000, ge=1)
    #: milliseconds an entry may stay pending before another consumer reclaims it
    claim_idle_ms: int = Field(30_000, ge=0)
    #: deliveries after which an entry that keeps failing is parked in the dead-letter stream
    max_deliveries: int = Field(5, ge=1)
    #: what ``serve`` runs: ``all``, ``consumer`` (the consumer and the reclaimer) or
    #: ``handlers`` (the query handlers and the write-through publish)
    role: Literal["all", "consumer", "handlers"] = Field("all", validation_alias=_env("SERVE_ROLE"))
    #: how much ``serve`` lowers its own CPU priority (``os.nice``): e.g. 10 for a
    #: ``consumer`` process, so that on a busy machine the handlers (answers, write-throughs)
    #: and Redis get the CPU before a backfill does
    nice: int = Field(0, ge=0, le=19)
    #: connections the query side may open (request/reply uses one per request in flight)
    max_connections: int = Field(256, ge=1)
    #: requests of one query a process answers at once (each query has its own subscriber;
    #: while one request waits for Redis, the next is taken)
    query_workers: int = Field(16, ge=1)
    #: ``HOST:PORT`` on which ``serve`` also answers HTTP (``service/http.py``); None: no HTTP
    http_addr: str | None = None
    #: the bearer token ``POST /events`` requires; None: writing over HTTP is refused (503)
    api_token: SecretStr | None = None
    #: the ``max-age`` of HTTP answers' ``Cache-Control`` (seconds a cache may serve one
    #: without asking again; with its ``ETag``, asking again is a cheap 304)
    http_max_age: int = Field(0, ge=0)
    #: the largest body ``POST /events`` takes, in bytes (413 beyond)
    http_max_body: int = Field(64 * 1024 * 1024, ge=1024)
    #: seconds ``serve --http`` lets requests under way finish when told to stop
    http_grace: int = Field(5, ge=0)
    #: seconds between the consumer's INFO lines (events applied, dead-lettered, lag)
    log_interval: float = Field(10.0, ge=1)
    #: times a Redis command is sent again when its connection fails or breaks (a restart),
    #: after a backoff growing from 10 ms to ``redis_backoff_cap`` seconds (service/connect.py)
    redis_retries: int = Field(20, ge=0)
    redis_backoff_cap: float = Field(1.0, gt=0)
    #: the deployment's name: it prefixes every pub/sub channel and list of the service, which
    #: Redis shares across database numbers (None: from the URL, see ``namespace``)
    instance: str | None = None
    #: answers each process keeps (the newest; an answer is valid while its bands are unchanged)
    answer_cache: int = Field(4096, ge=1)
    #: seconds after the last live change to a band before the questions about it asked most
    #: recently are answered again into the cache (``Queries.refresh``): during a show, the
    #: next question finds its answer ready; a burst of changes refreshes once
    refresh_delay: float = Field(0.2, ge=0)
    # pacing (service/pacing.py has the rule): how a consumer gives way to live events and questions
    pace_live_window: float = Field(600.0, ge=0)
    pace_served_window: float = Field(1.0, ge=0)
    pace_grace: float = Field(0.005, ge=0)
    pace_wait_max: float = Field(0.05, ge=0)
    pace_rest: float = Field(1.0, ge=0)
    pace_live_batch: int = Field(20, ge=0)
    # highlights (projections/highlights.py): the live window in days either side of today, the
    # bustout thresholds (shows: per band with HIGHLIGHT_BUSTOUT_SHOWS_BY_BAND=phish=101,goose=60)
    highlight_days: int = Field(2, ge=0)
    bustout_shows: int = Field(101, ge=1, validation_alias=_env("HIGHLIGHT_BUSTOUT_SHOWS"))
    bustout_days: int = Field(365, ge=1, validation_alias=_env("HIGHLIGHT_BUSTOUT_DAYS"))
    bustout_shows_by_band: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("HIGHLIGHT_BUSTOUT_SHOWS_BY_BAND")
    )
    #: the day taken as today for the live window (default: today, UTC): to replay a past show
    #: as if live, in a demo or a test
    highlight_today: dt.date | None = None
    #: highlights kept in their stream (``ss:highlights``), the oldest trimmed first
    highlights_kept: int = Field(100_000, ge=1)
    # followers of the highlights (GET /live, ``highlights``): highlights sent first at most,
    # and seconds between the keep-alive comments of an idle event stream
    live_backlog: int = Field(1000, ge=0)
    live_keepalive: float = Field(15.0, gt=0)
    # importers (service/importers): shows written per chunk (a checkpoint after each), and the
    # days before the newest show already imported that an incremental phish.net import reads again
    import_chunk: int = Field(500, ge=1)
    import_overlap_days: int = Field(30, ge=0)

    @field_validator("bustout_shows_by_band", mode="before")
    @classmethod
    def _by_band(cls, value: Any) -> Any:
        """``band=number,...`` (as the environment gives it), or a mapping."""
        if not isinstance(value, str):
            return value
        out = {}
        for item in filter(None, value.split(",")):
            band, _, number = item.partition("=")
            if not number.strip().isdigit() or int(number) < 1:
                raise ValueError(f"expected band=number,... (a whole number >= 1), got {item!r}")
            out[band.strip()] = int(number)
        return out

    @field_validator("http_addr")
    @classmethod
    def _http_addr(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                http_address(value)
            except SystemExit:
                raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8000") from None
        return value

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The settings from the environment with ``overrides`` (by field name), or exit with
        one line per bad value, naming its environment variable and what it allows."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SystemExit("\n".join(_problem(error) for error in exc.errors())) from None

    def replace(self, **changes: Any) -> Settings:
        """These settings with ``changes`` (by field name), checked."""
        return type(self).load(**{**self.model_dump(), **changes})

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redacted(value) if name == "redis_url" else value

    def token(self) -> str | None:
        return self.api_token.get_secret_value() if self.api_token else None

    def highlighting(self) -> Highlighting:
        fixed = self.highlight_today
        return Highlighting(
            days=self.highlight_days,
            bustout_shows=self.bustout_shows,
            bustout_days=self.bustout_days,
            per_band=dict(self.bustout_shows_by_band),
            kept=self.highlights_kept,
            **({"today": lambda: fixed} if fixed else {}),
        )

    def pacing(self) -> Pacing:
        return Pacing(
            live_window=self.pace_live_window,
            served_window=self.pace_served_window,
            grace=self.pace_grace,
            wait_max=self.pace_wait_max,
            rest=self.pace_rest,
            live_batch=self.pace_live_batch,
        )


def _problem(error: Any) -> str:
    """One line for a bad setting: its environment variable, what it allows, what it got."""
    field = str(error["loc"][0]) if error.get("loc") else "settings"
    variable = _variable(field)
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{variable}: {message[:1].lower()}{message[1:]}, got {error.get('input')!r}"


def _variable(name: str) -> str:
    """The environment variable of a field (given by its name or its variable)."""
    info = Settings.model_fields.get(name)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return name.upper()


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
