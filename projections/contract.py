"""The query contract: for each of the nine queries, one Struct of parameters naming the
Structs of its answer (``shapes.py``), declared once.

Everything else follows from ``QUERIES``: the FastStream handlers and their AsyncAPI schemas,
the HTTP routes and their OpenAPI document, the CLI's ``query`` subcommands and their help,
the client's methods, the checks and the error messages. Constraints are ``Meta`` on the
fields; ``parse`` applies them and words every refusal from them, naming the parameter and
what it allows.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, cast, get_args

import msgspec
from msgspec import Meta

from .events import BAND_PATTERN, ID_MAX, ID_PATTERN
from .schema import Schema
from .shapes import (
    BandRow as BandRow,
)
from .shapes import (
    Bustout as Bustout,
)
from .shapes import (
    Bustouts as Bustouts,
)
from .shapes import (
    Debut as Debut,
)
from .shapes import (
    Debuts as Debuts,
)
from .shapes import (
    ErrorBody as ErrorBody,
)
from .shapes import (
    GapRow as GapRow,
)
from .shapes import (
    Model as Model,
)
from .shapes import (
    Published as Published,
)
from .shapes import (
    Reply as Reply,
)
from .shapes import (
    Setlist as Setlist,
)
from .shapes import (
    SetlistRow as SetlistRow,
)
from .shapes import (
    Song as Song,
)
from .shapes import (
    SongPlay as SongPlay,
)
from .shapes import (
    Stats as Stats,
)
from .shapes import (
    TrendRow as TrendRow,
)
from .shapes import (
    Trends as Trends,
)
from .shapes import (
    VelocityRow as VelocityRow,
)

A = TypeVar("A")


class QueryError(Exception):
    """A query that cannot be answered: ``code`` is ``invalid_parameter``, ``not_found`` or
    ``unknown_query``; ``parameter`` names the offending parameter where there is one."""

    def __init__(self, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.parameter = parameter


# -- parameters ------------------------------------------------------------------------------

Band = Annotated[str, Meta(pattern=BAND_PATTERN, description="a band slug ([a-z0-9][a-z0-9-]{0,63})")]
SongId = Annotated[
    str,
    Meta(
        pattern=ID_PATTERN,
        max_length=ID_MAX,
        description=f"a song id, as the band's events name it: up to {ID_MAX} characters, no control character",
    ),
]
ShowId = Annotated[
    str,
    Meta(
        pattern=ID_PATTERN,
        max_length=ID_MAX,
        description=f"a show id, as the band's events name it: up to {ID_MAX} characters, no control character",
    ),
]
AsOf = Annotated[
    dt.date | None,
    Meta(description="answer as if only shows dated on or before this day existed (default: today, UTC)"),
]
Limit = Annotated[int, Meta(ge=1, le=200, description="rows at most")]
Days = Annotated[int, Meta(ge=0, description="the window: days back from as_of")]
Unit = Literal["days", "shows"]

#: bustouts' default threshold in each unit
DEFAULT_GAP_THRESHOLD = {"days": 180, "shows": 101}


class Params(msgspec.Struct, Schema, Generic[A], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A query's parameters; ``A`` is its answer's type."""

    query: ClassVar[str]
    as_of: AsOf = None


class BandParams(Params[A], frozen=True, forbid_unknown_fields=True, kw_only=True):
    band: Band


# -- the queries -----------------------------------------------------------------------------


class GapsParams(BandParams[list[GapRow]], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Songs by how long since they were last played (overdue songs): longest gap first."""

    query = "gaps"
    min_plays: Annotated[int, Meta(ge=0, description="songs with at least this many plays")] = 5
    limit: Limit = 50
    sort: Annotated[Unit, Meta(description="the gap's unit: days or shows since the last play")] = "days"


class VelocityParams(BandParams[list[VelocityRow]], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Hot songs: plays in the last 30, 90 and 365 days, scored 3·p30 + 2·p90 + p365."""

    query = "velocity"
    limit: Limit = 50


class TrendsParams(BandParams[Trends], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Shows and performances per month, quarter or year, oldest first."""

    query = "trends"
    period: Annotated[Literal["month", "quarter", "year"], Meta(description="the length of a period")] = "month"


class StatsParams(BandParams[Stats], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A band's totals: shows, songs, performances, first and last show."""

    query = "stats"


class BustoutsParams(BandParams[Bustouts], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Songs played again after a long gap, in the window: biggest gap first."""

    query = "bustouts"
    days: Days = 365
    gap_threshold: (
        Annotated[int, Meta(ge=0, description="the least gap that counts (default 180 days, or 101 shows)")] | None
    ) = None
    unit: Annotated[Unit, Meta(description="the gap's unit")] = "days"


class DebutsParams(BandParams[Debuts], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Songs first played in the window: newest first."""

    query = "debuts"
    days: Days = 365


class SongParams(BandParams[Song], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One song's history: every play with its gap."""

    query = "song"
    song_id: SongId


class SetlistParams(BandParams[Setlist], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One show's setlist, each performance with its gap and flags."""

    query = "setlist"
    show_id: ShowId


class BandsParams(Params[list[BandRow]], frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every band, with its totals."""

    query = "bands"


@dataclass(frozen=True)
class Query:
    """One query: its parameters' Struct, its answer's type and where HTTP serves it."""

    params: type[Params[Any]]
    #: the HTTP path under ``/analytics/`` (the seed's for its six)
    path: str

    @property
    def name(self) -> str:
        return self.params.query

    @property
    def answer(self) -> Any:
        return answer_type(self.params)

    @property
    def summary(self) -> str:
        return (self.params.__doc__ or self.name).strip()

    @functools.cached_property
    def reply(self) -> type[Model]:
        """The Struct of its request/reply answer (``Reply`` with its answer's type)."""
        fields: list[tuple[str, Any, Any]] = [
            ("ok", bool, msgspec.NODEFAULT),
            ("result", self.answer | None, None),
            ("error", ErrorBody | None, None),
        ]
        name = self.params.__name__.removesuffix("Params") + "Reply"
        reply = msgspec.defstruct(name, fields, bases=(Model,), omit_defaults=True, kw_only=True, module=__name__)
        return cast(type[Model], reply)

    def fields(self) -> tuple[msgspec.structs.FieldInfo, ...]:
        """The parameters, ``as_of`` (every query's) last."""
        fields = msgspec.structs.fields(self.params)
        return tuple(sorted(fields, key=lambda f: f.name == "as_of"))


#: The queries, each declared once.
QUERIES: dict[str, Query] = {
    q.name: q
    for q in (
        Query(GapsParams, "gaps/{band}"),
        Query(VelocityParams, "velocity/{band}"),
        Query(TrendsParams, "trends/{band}"),
        Query(StatsParams, "stats/{band}"),
        Query(BustoutsParams, "bustouts/{band}"),
        Query(DebutsParams, "debut-songs/{band}"),
        Query(SongParams, "songs/{band}/{song_id}"),
        Query(SetlistParams, "setlists/{band}/{show_id}"),
        Query(BandsParams, "bands"),
    )
}


def answer_type(params: type[Params[Any]]) -> Any:
    """The answer's type of a parameters' Struct (its ``Params[...]`` argument)."""
    for base in getattr(params, "__orig_bases__", ()):
        args = get_args(base)
        if args:
            return args[0]
    raise TypeError(f"{params.__name__} does not name its answer's type")


# -- checking --------------------------------------------------------------------------------


def invalid(name: str, message: str) -> QueryError:
    return QueryError("invalid_parameter", f"{name} {message}", name)


def described(kind: Any) -> tuple[msgspec.inspect.Type, str]:
    """A parameter's type as msgspec describes it (its constraints; ``None`` left out of a
    union) and its description."""
    info = msgspec.inspect.type_info(kind)
    description = ""
    while isinstance(info, (msgspec.inspect.UnionType, msgspec.inspect.Metadata)):
        if isinstance(info, msgspec.inspect.Metadata):
            description = description or str((info.extra_json_schema or {}).get("description") or "")
            info = info.type
        else:
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    return info, description


def allows(kind: Any) -> str:
    """What a parameter's type allows, in words (from its constraints)."""
    info, description = described(kind)
    if isinstance(info, msgspec.inspect.IntType):
        if info.ge is not None and info.le is not None:
            return f"an integer from {info.ge} to {info.le}"
        return f"an integer >= {info.ge}" if info.ge is not None else "an integer"
    if isinstance(info, msgspec.inspect.LiteralType):
        return f"one of {', '.join(map(str, info.values))}"
    if isinstance(info, msgspec.inspect.DateType):
        return "a date YYYY-MM-DD"
    return description or "text"


def field_doc(field: msgspec.structs.FieldInfo) -> str:
    """A parameter's description, for help texts: what it is, what it allows, its default."""
    _, text = described(field.type)
    what = allows(field.type)
    if what not in text:
        text = f"{text}: {what}" if text else what
    if field.required:
        return f"{text} (required)"
    if field.default is not None:
        return f"{text} (default {field.default})"
    return text


def parse(query: str, body: Any, strict: bool = True, today: dt.date | None = None) -> Params[Any]:
    """The checked parameters of a query (a JSON object, or its bytes), defaults filled in:
    ``as_of`` today (UTC) when absent; raises ``QueryError`` naming the parameter at fault.
    ``strict=False`` takes numbers written as text (an HTTP query string)."""
    spec = QUERIES.get(query)
    if spec is None:
        raise QueryError("unknown_query", f"unknown query {query!r}; expected one of {', '.join(QUERIES)}")
    if isinstance(body, (bytes, str)):
        try:
            body = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError as exc:
            raise QueryError("invalid_parameter", f"the parameters of {query} are not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise QueryError("invalid_parameter", f"the parameters of {query} must be a JSON object")
    given = {k: v for k, v in body.items() if v is not None}
    try:
        params: Params[Any] = msgspec.convert(given, spec.params, strict=strict)
    except msgspec.ValidationError as exc:
        raise _refusal(spec, given, str(exc)) from None
    if params.as_of is None:
        params = msgspec.structs.replace(params, as_of=today or dt.datetime.now(dt.UTC).date())
    if isinstance(params, BustoutsParams) and params.gap_threshold is None:
        params = msgspec.structs.replace(params, gap_threshold=DEFAULT_GAP_THRESHOLD[params.unit])
    return params


def _refusal(spec: Query, given: dict[str, Any], reason: str) -> QueryError:
    """A msgspec refusal in the contract's words."""
    names = [f.name for f in spec.fields()]
    if unknown := re.search(r"unknown field `(.+?)`", reason):
        return invalid(unknown.group(1), f"is not a parameter of {spec.name}; allowed: {', '.join(names)}")
    if missing := re.search(r"missing required field `(.+?)`", reason):
        return invalid(missing.group(1), "is required")
    at = re.search(r"at `\$\.([A-Za-z_]+)`", reason)
    field = next((f for f in spec.fields() if at and f.name == at.group(1)), None)
    if field is None:
        return QueryError("invalid_parameter", f"the parameters of {spec.name} are invalid: {reason}")
    return invalid(field.name, f"must be {allows(field.type)}, got {given.get(field.name)!r}")


def markdown_table() -> str:
    """The queries as a Markdown table (the README's): HTTP path, parameters, what it answers."""
    rows = ["| query | HTTP path | parameters (default) | answer |", "|---|---|---|---|"]
    for query in QUERIES.values():
        shown = []
        for field in query.fields():
            if f"{{{field.name}}}" in query.path:
                continue
            info, description = described(field.type)
            if isinstance(info, msgspec.inspect.LiteralType):
                what = ", ".join(f"`{v}`" for v in info.values)
            elif isinstance(info, msgspec.inspect.IntType) and info.le is not None:
                what = f"{info.ge}..{info.le}"
            elif isinstance(info, msgspec.inspect.IntType):
                what = f">= {info.ge}"
            else:
                what = ""
            stated = re.search(r"\(default:? ([^)]*)\)", description)
            default = stated.group(1) if stated else "" if field.default is None else str(field.default)
            note = "; ".join(x for x in (default, what) if x)
            shown.append(f"`{field.name}` ({note})" if note else f"`{field.name}`")
        summary = query.summary.rstrip(".")
        rows.append(f"| `{query.name}` | `GET /analytics/{query.path}` | {', '.join(shown)} | {summary} |")
    return "\n".join(rows)
