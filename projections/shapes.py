"""The answers' Structs: what each query of the contract (``contract.QUERIES``) answers,
field by field, as the seed router's JSON had it."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from .schema import Schema

A = TypeVar("A")


class Model(msgspec.Struct, Schema, kw_only=True):
    """An answer's Struct."""


class GapRow(Model):
    song_id: str
    song_title: str
    song_slug: str
    last_played: str
    days_since_played: int
    total_plays: int
    average_gap_days: float | None
    shows_since_played: int
    average_gap_shows: float | None


class VelocityRow(Model):
    song_id: str
    song_title: str
    song_slug: str
    plays_last_30_days: int
    plays_last_90_days: int
    plays_last_year: int
    total_plays: int
    velocity_score: float


class TrendRow(Model):
    period: str
    shows: int
    performances: int


class Trends(Model):
    vertical: str
    period_type: str
    trends: list[TrendRow]


class Stats(Model):
    vertical_id: str
    vertical_name: str
    vertical_slug: str
    total_shows: int
    total_songs: int
    total_performances: int
    unique_songs_played: int
    avg_songs_per_show: float
    first_show: str | None
    last_show: str | None


class Bustout(Model):
    song_id: str
    song_title: str
    song_slug: str | None
    bustout_date: str
    show_id: str
    show_slug: str | None
    gap_days: int
    gap_shows: int
    previous_play: str


class Bustouts(Model, omit_defaults=True):
    """``threshold_days`` or ``threshold_shows``: the one of the unit asked."""

    vertical: str
    bustouts: list[Bustout]
    threshold_days: int | None = None
    threshold_shows: int | None = None


class Debut(Model):
    song_id: str
    song_title: str
    song_slug: str | None
    debut_date: str
    show_id: str
    show_slug: str | None
    times_played_since: int


class Debuts(Model):
    vertical: str
    period_days: int
    debuts: list[Debut]


class SongPlay(Model):
    date: str
    show_id: str
    set: str
    position: int
    gap_shows: int | None
    gap_days: int | None


class Song(Model):
    song_id: str
    song_title: str
    total_plays: int
    shows_played: int
    debut_date: str | None
    last_played: str | None
    days_since_played: int | None
    shows_since_played: int | None
    average_gap_days: float | None
    average_gap_shows: float | None
    longest_gap_shows: int | None
    plays: list[SongPlay]


class SetlistRow(Model):
    position: int
    set: str
    song_id: str
    song_title: str | None
    song_slug: str | None
    transition: str | None
    is_reprise: bool
    footnote: str | None
    counts_for_stats: bool
    gap_shows: int | None
    gap_days: int | None
    is_debut: bool
    is_bustout: bool


class Setlist(Model):
    band: str
    show_id: str
    date: str
    show_order: int
    slug: str | None
    venue: str | None
    city: str | None
    state: str | None
    country: str | None
    tour: str | None
    counts_for_stats: bool
    performances: list[SetlistRow]


class BandRow(Model):
    band: str
    band_name: str
    total_shows: int
    total_performances: int
    first_show: str | None
    last_show: str | None


class ErrorBody(Model):
    """Why a request was refused: ``code`` (``invalid_parameter``, ``not_found``,
    ``unknown_query``, ``invalid_event``, ``internal``), the message, the parameter at fault."""

    code: str
    message: str
    parameter: str | None = None


class Published(Model, omit_defaults=True):
    """A write-through's answer: the event's stream id, whether it is applied already (if
    not, ``error`` says why; it is in the stream all the same, and the consumer applies it)."""

    id: str
    applied: bool
    error: str | None = None


class Reply(Model, Generic[A], omit_defaults=True):
    """A request/reply answer: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": ...}``."""

    ok: bool
    result: A | None = None
    error: ErrorBody | None = None
