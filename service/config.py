"""Settings: one object (``Settings``), read from the environment by pydantic-settings. Every
field has a default; a field's environment variable is its name in capitals unless its
``alias`` says otherwise. A bad value stops the program with one line naming the variable
and what it allows (``Settings.load``); the API token and any password in the Redis URL
never appear in a repr or a log."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path
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

    # Each field's environment variable is its name in capitals, or the one its alias gives;
    # its description is its line in docs/configuration.md (``setlist-stats docs settings``).
    redis_url: str | None = Field(
        None,
        description="`redis://`, `rediss://` (TLS) or `unix://`; user and password in the URL (never logged)",
        json_schema_extra={"shown": "unset: embedded"},
    )
    consumer: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        validation_alias=_env("CONSUMER_NAME"),
        description="this process's name in the consumer group (unique per process)",
        json_schema_extra={"shown": "host-pid"},
    )
    batch_size: int = Field(
        1000, ge=1, description="entries read and applied per batch (larger: faster backfills, longer scripts)"
    )
    claim_idle_ms: int = Field(
        30_000, ge=0, description="milliseconds an entry may stay pending before another consumer reclaims it"
    )
    max_deliveries: int = Field(
        5, ge=1, description="deliveries after which a failing entry is parked in the dead-letter stream"
    )
    role: Literal["all", "consumer", "handlers"] = Field(
        "all",
        validation_alias=_env("SERVE_ROLE"),
        description="what `serve` runs: `all`, `consumer` (consumer and reclaimer) or `handlers` (queries and "
        "write-through publish); `serve --role` overrides it",
    )
    nice: int = Field(
        0,
        ge=0,
        le=19,
        description="how much `serve` lowers its CPU priority: 10 for a `consumer` process keeps answers and "
        "write-throughs quick on a machine busy with a backfill",
    )
    max_connections: int = Field(
        256, ge=1, description="Redis connections of a process (request/reply holds one per request in flight)"
    )
    query_workers: int = Field(
        16,
        ge=1,
        description="requests of one query a process answers at once (while one waits for Redis, the next is taken)",
    )
    http_addr: str | None = Field(
        None,
        description="`HOST:PORT` on which `serve` also answers HTTP; `serve --http` overrides it",
        json_schema_extra={"shown": "unset: no HTTP"},
    )
    api_token: SecretStr | None = Field(
        None,
        description="the bearer token `POST /events` requires (never logged)",
        json_schema_extra={"shown": "unset: writing over HTTP refused"},
    )
    http_max_age: int = Field(0, ge=0, description="the `max-age` of HTTP answers' `Cache-Control`, in seconds")
    http_max_body: int = Field(
        64 * 1024 * 1024, ge=1024, description="the largest body `POST /events` takes, in bytes (413 beyond)"
    )
    http_grace: int = Field(
        5, ge=0, description="seconds `serve --http` lets requests under way finish when told to stop"
    )
    log_interval: float = Field(
        10.0,
        ge=1,
        description="seconds between `serve`'s INFO lines of what its consumer did (events applied, "
        "dead-lettered, lag); none while idle",
    )
    redis_retries: int = Field(
        20,
        ge=0,
        description="times a Redis command is sent again when its connection fails or breaks (a restart), "
        "after a backoff growing from 10 ms to `REDIS_BACKOFF_CAP` (`service/connect.py`)",
    )
    redis_backoff_cap: float = Field(1.0, gt=0, description="the longest backoff between two tries, in seconds")
    redis_cluster: bool = Field(
        False,
        description="`REDIS_URL` names a node of a Redis Cluster: every client is a cluster client (`docs/cluster.md`)",
    )
    stream_partitions: int = Field(
        1,
        ge=1,
        le=1024,
        description="streams the event log is split into when a deployment is created (e.g. 16 on a cluster); "
        "recorded in Redis, which every process then follows; changing it is `setlist-stats repartition`",
    )
    instance: str | None = Field(
        None,
        description="the prefix of the deployment's pub/sub channels and write-through list (Redis shares "
        "channels across database numbers: two deployments on one server must not share it); clients "
        "derive it the same way",
        json_schema_extra={"shown": "`setlist-stats`, or `setlist-stats.db<N>` for database N of `REDIS_URL`"},
    )
    answer_cache: int = Field(
        4096,
        ge=1,
        description="answers a process keeps, the least recently used let go first (an answer is kept "
        "valid while its bands are unchanged)",
    )
    refresh_delay: float = Field(
        0.2,
        ge=0,
        description="seconds after the last live change to a band before its recently asked questions are "
        "answered again into the cache",
    )
    pace_live_window: float = Field(
        600.0, ge=0, description="pacing (`service/pacing.py`): seconds after a write-through that consumers pace"
    )
    pace_served_window: float = Field(
        1.0, ge=0, description="pacing: seconds after its process served something that a consumer paces"
    )
    pace_grace: float = Field(
        0.005, ge=0, description="pacing: seconds with nothing served before a paced script call starts"
    )
    pace_wait_max: float = Field(0.05, ge=0, description="pacing: seconds a paced script call waits at most for that")
    pace_rest: float = Field(
        1.0, ge=0, description="pacing: seconds of rest per second of a paced script call (1: half speed)"
    )
    pace_live_batch: int = Field(
        20, ge=0, description="pacing: the most entries of a read of live events (applied at once)"
    )
    highlight_days: int = Field(
        2,
        ge=0,
        description="a play is live (gets highlights) when its show is dated this many days or fewer from "
        "today (UTC), either side",
    )
    bustout_shows: int = Field(
        101,
        ge=1,
        validation_alias=_env("HIGHLIGHT_BUSTOUT_SHOWS"),
        description="a bustout's least gap in shows",
    )
    bustout_days: int = Field(
        365,
        ge=1,
        validation_alias=_env("HIGHLIGHT_BUSTOUT_DAYS"),
        description="a bustout's least gap in days (`bustout_days`)",
    )
    bustout_shows_by_band: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        validation_alias=_env("HIGHLIGHT_BUSTOUT_SHOWS_BY_BAND"),
        description="a bustout's least gap in shows per band, e.g. `phish=101,goose=60`",
        json_schema_extra={"shown": "unset"},
    )
    highlight_today: dt.date | None = Field(
        None,
        description="the day taken as today for the live window: to replay a past show as if live (a demo, a test)",
        json_schema_extra={"shown": "unset: today (UTC)"},
    )
    highlights_kept: int = Field(
        100_000, ge=1, description="highlights kept in their stream (`ss:highlights`), the oldest trimmed first"
    )
    highlights_flush_lock_ms: int = Field(
        5000,
        ge=100,
        description="milliseconds one process may hold a band's outbox while it moves its highlights to the "
        "stream (a crashed holder's hold lapses after that)",
    )
    live_backlog: int = Field(
        1000,
        ge=1,
        description="highlights a follower (`GET /live`) may fall behind by before it is ended (it reconnects "
        "and catches up)",
    )
    live_keepalive: float = Field(
        15.0, gt=0, description="seconds between the keep-alive comments of an idle `GET /live` event stream"
    )
    import_chunk: int = Field(
        500, ge=1, description="events an import writes at a time, its checkpoint written after each"
    )
    home: Path = Field(
        default_factory=lambda: Path.home() / ".local" / "share" / "setlist-stats",
        validation_alias=_env("SETLIST_STATS_HOME"),
        description="where `serve` keeps its embedded Redis (when `REDIS_URL` is unset)",
        json_schema_extra={"shown": "`~/.local/share/setlist-stats`"},
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        None,
        description="logging level (DEBUG also shows FastStream's own lines)",
        json_schema_extra={"shown": "INFO for `serve`, WARNING otherwise"},
    )
    import_overlap_days: int = Field(
        30,
        ge=0,
        description="days before the newest show already imported that an incremental phish.net import reads again",
    )

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

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

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
            flush_lock_ms=self.highlights_flush_lock_ms,
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


def settings_table() -> str:
    """docs/configuration.md's table: every setting's variable, default and meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        shown = extra.get("shown") or f"{info.default!r}".strip("'")
        rows.append(f"| `{_variable(name)}` | {shown} | {info.description} |")
    return "\n".join(rows) + "\n"


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
