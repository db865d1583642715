"""Query parameters: each query's allowed parameters, defaults and ranges, and their validation.

Every error names the parameter and what it allows; nothing is answered from a bad request.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from .events import BAND_PATTERN, ID_PATTERN

QUERIES = ("gaps", "velocity", "trends", "stats", "bustouts", "debuts", "song", "setlist", "bands")


class QueryError(Exception):
    """A query that cannot be answered: ``code`` is ``invalid_parameter``, ``not_found`` or
    ``unknown_query``; ``parameter`` names the offending parameter where there is one."""

    def __init__(self, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.parameter = parameter

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "parameter": self.parameter}


@dataclass(frozen=True)
class Int:
    default: int | None
    low: int
    high: int | None = None

    def describe(self) -> str:
        return f"an integer from {self.low} to {self.high}" if self.high is not None else f"an integer >= {self.low}"

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(name, f"must be {self.describe()}, got {value!r}")
        if value < self.low or (self.high is not None and value > self.high):
            raise invalid(name, f"must be {self.describe()}, got {value}")
        return value


@dataclass(frozen=True)
class Choice:
    default: str
    allowed: tuple[str, ...]

    def check(self, name: str, value: Any) -> str:
        if value not in self.allowed:
            raise invalid(name, f"must be one of {', '.join(self.allowed)}, got {value!r}")
        return str(value)


@dataclass(frozen=True)
class Pattern:
    pattern: str
    what: str

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or not re.match(self.pattern, value):
            raise invalid(name, f"must be {self.what}, got {value!r}")
        return value


@dataclass(frozen=True)
class Date:
    def check(self, name: str, value: Any) -> dt.date:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise invalid(name, f"must be a date YYYY-MM-DD, got {value!r}")


BAND = Pattern(BAND_PATTERN, "a band slug ([a-z0-9][a-z0-9-]{0,63})")
AS_OF = Date()
LIMIT = Int(50, 1, 200)
DAYS = Int(365, 0)

#: Each query's parameters besides ``band`` (every query but ``bands``) and ``as_of`` (all).
SPECS: dict[str, dict[str, Any]] = {
    "gaps": {"min_plays": Int(5, 0), "limit": LIMIT, "sort": Choice("days", ("days", "shows"))},
    "velocity": {"limit": LIMIT},
    "trends": {"period": Choice("month", ("month", "quarter", "year"))},
    "stats": {},
    "bustouts": {"days": DAYS, "gap_threshold": Int(None, 0), "unit": Choice("days", ("days", "shows"))},
    "debuts": {"days": DAYS},
    "song": {"song_id": Pattern(ID_PATTERN, "a song id")},
    "setlist": {"show_id": Pattern(ID_PATTERN, "a show id")},
    "bands": {},
}

#: bustouts' default threshold depends on its unit
DEFAULT_GAP_THRESHOLD = {"days": 180, "shows": 101}


def invalid(name: str, message: str) -> QueryError:
    return QueryError("invalid_parameter", f"{name} {message}", name)


def allowed(query: str) -> tuple[str, ...]:
    extra = () if query == "bands" else ("band",)
    return (*extra, *SPECS[query], "as_of")


def validate(query: str, params: Any, today: dt.date | None = None) -> dict[str, Any]:
    """The checked parameters of a query, defaults filled in, ``as_of`` as a date."""
    if query not in SPECS:
        raise QueryError("unknown_query", f"unknown query {query!r}; expected one of {', '.join(QUERIES)}")
    if not isinstance(params, dict):
        raise QueryError("invalid_parameter", f"the parameters of {query} must be a JSON object")
    unknown = sorted(set(params) - set(allowed(query)))
    if unknown:
        raise invalid(unknown[0], f"is not a parameter of {query}; allowed: {', '.join(allowed(query))}")
    out: dict[str, Any] = {}
    if query != "bands":
        if params.get("band") is None:
            raise invalid("band", "is required")
        out["band"] = BAND.check("band", params["band"])
    for name, spec in SPECS[query].items():
        value = params.get(name)
        if value is None:
            if isinstance(spec, Pattern):
                raise invalid(name, "is required")
            out[name] = spec.default
        else:
            out[name] = spec.check(name, value)
    if query == "bustouts" and out["gap_threshold"] is None:
        out["gap_threshold"] = DEFAULT_GAP_THRESHOLD[out["unit"]]
    as_of = params.get("as_of")
    out["as_of"] = AS_OF.check("as_of", as_of) if as_of is not None else (today or dt.datetime.now(dt.UTC).date())
    return out
