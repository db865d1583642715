"""``import csv``: any CSV with one row per play, its columns named by flags.

- A show is the value of ``--show-column``, else a date and venue (the date alone without a
  venue column). Its ``show_order`` among the shows of one date is ``--show-order-column``
  (shows of a date ranked by it), else the order the shows first appear in the file (reversed
  with ``--newest-first``).
- A play's position is ``--position-column``, else its row's place among its show's rows
  (kept by a refused row, so that fixing that row later moves nothing).
- A song's id is ``--song-id-column``, else a stable slug of its title (``slug``); a title
  missing where an id is given reads "Song <id>".
- ``--set-column`` holds contract set labels (``1``..``9``, ``e``, ``e2``, ``e3``, ``p``, ``s``,
  any case); ``--set-map LABEL=set,...`` maps the file's own labels (``Encore=e``); another
  label refuses its row, with its line number.
- ``--join FILE:COLUMN`` (or ``FILE:LEFT=RIGHT``) adds the columns of FILE's row whose RIGHT
  column equals the row's LEFT one (a normalised export: shows, songs, venues in files of
  their own); a row's own non-empty value wins over a joined one. ``--shows FILE:COLUMN``
  is such a join with a file of shows, one row each: its shows without a play are recorded
  too (a show with no known setlist still counts in the gaps in shows).
- ``--show-field NAME=COLUMN`` and ``--play-field NAME=COLUMN`` fill any other field of
  ShowRecorded or PerformanceAdded (``!COLUMN`` negates a yes/no column, e.g.
  ``counts_for_stats=!exclude``); free text is kept as written, cut at the contract's limit.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from projections.events import TEXT_MAX, SetLabel

from .core import Checkpoint, Draft, Progress, Refused

SET_LABELS = get_args(SetLabel)
SHOW_FIELDS = ("show_order", "band_name", "venue", "city", "state", "country", "tour", "slug", "counts_for_stats")
PLAY_FIELDS = ("song_slug", "transition", "is_reprise", "footnote", "counts_for_stats")
_BOOLS = {
    "1": True,
    "true": True,
    "yes": True,
    "y": True,
    "t": True,
    "0": False,
    "false": False,
    "no": False,
    "n": False,
    "f": False,
    "": False,
}
_LIMITS = {"footnote": 2000}
_YES_NO = ("counts_for_stats", "is_reprise")


def slug(title: str) -> str:
    """A stable id for a title: lower case, letters and digits of any script kept, every run of
    anything else one ``-`` (``Señor Mouse`` -> ``señor-mouse``)."""
    text = unicodedata.normalize("NFC", title).casefold()
    return re.sub(r"[\W_]+", "-", text).strip("-") or title.strip()


class ColumnError(ValueError):
    """A flag names a column the file does not have."""


@dataclass
class CsvSource:
    path: Path
    band: str
    band_name: str
    date_column: str
    song_column: str
    date_format: str = "%Y-%m-%d"
    venue_column: str | None = None
    set_column: str | None = None
    show_column: str | None = None
    position_column: str | None = None
    song_id_column: str | None = None
    show_order_column: str | None = None
    newest_first: bool = False
    set_map: dict[str, str] = field(default_factory=dict)
    joins: list[tuple[Path, str, str]] = field(default_factory=list)
    shows_file: tuple[Path, str, str] | None = None
    show_fields: dict[str, str] = field(default_factory=dict)
    play_fields: dict[str, str] = field(default_factory=dict)
    name: str = "csv"
    cursor: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label, to in self.set_map.items():
            if to not in SET_LABELS:
                raise ValueError(f"--set-map {label}={to}: {to!r} is not a set; allowed: {', '.join(SET_LABELS)}")
        for flag, names, allowed in (
            ("--show-field", self.show_fields, SHOW_FIELDS),
            ("--play-field", self.play_fields, PLAY_FIELDS),
        ):
            for name in names:
                if name not in allowed:
                    raise ValueError(f"{flag} {name}: not a field; allowed: {', '.join(allowed)}")

    def _rows(self) -> Iterator[tuple[str, dict[str, str]]]:
        """Each play row with its joined columns, and where it is; then each row of the shows
        file that no play named (``_show_only``)."""
        joins = [*([self.shows_file] if self.shows_file else []), *self.joins]  # the show's columns first
        tables = [(left, right, _table(path, right)) for path, left, right in joins]
        matched: set[str] = set()
        with self.path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = set(reader.fieldnames or ())
            for _, _, table in tables:
                columns |= set(next(iter(table.values()), {}))
            named = [
                self.date_column,
                self.song_column,
                self.venue_column,
                self.set_column,
                self.show_column,
                self.position_column,
                self.song_id_column,
                self.show_order_column,
                *(c.lstrip("!") for c in (*self.show_fields.values(), *self.play_fields.values())),
            ]
            missing = [c for c in named if c and c not in columns]
            if missing:
                raise ColumnError(
                    f"{self.path.name} has no column {', '.join(map(repr, missing))}; "
                    f"its columns: {', '.join(sorted(columns))}"
                )
            for row in reader:
                for left, _, table in tables:
                    joined = table.get(row.get(left) or "")
                    if joined:
                        row = _fill(row, joined)
                if self.shows_file:
                    matched.add(row.get(self.shows_file[1]) or "")
                yield f"line {reader.line_num}", row
        if self.shows_file:
            path = self.shows_file[0]
            for key, row in tables[0][2].items():
                if key not in matched:
                    for left, _, table in tables[1:]:
                        row = _fill(row, table.get(row.get(left) or "", {}))
                    yield f"{path.name} line {row['_line']}", {**row, "_show_only": "1"}

    async def drafts(self, checkpoint: Checkpoint, progress: Progress) -> AsyncIterator[Draft | Refused]:
        shows: dict[str, Draft] = {}
        counts: dict[str, int] = {}
        refused: list[Refused] = []
        for where, row in self._rows():
            try:
                date = _date(row[self.date_column], self.date_format)
            except ValueError:
                refused.append(
                    Refused(
                        where,
                        f"{self.date_column} {row[self.date_column]!r} is not a date of the form {self.date_format}",
                    )
                )
                continue
            venue = (row.get(self.venue_column) or "").strip() if self.venue_column else ""
            show_id = (
                (row[self.show_column] or "").strip()
                if self.show_column
                else " ".join(filter(None, (date.isoformat(), venue)))
            )
            if not show_id:
                refused.append(Refused(where, f"{self.show_column} is empty"))
                continue
            draft = shows.get(show_id)
            if draft is None:
                show: dict[str, Any] = {"show_id": show_id, "date": date.isoformat(), "band_name": self.band_name}
                if venue:
                    show["venue"] = venue
                for name, column in self.show_fields.items():
                    try:
                        value = _value(name, column, row)
                    except ValueError as exc:
                        refused.append(Refused(where, str(exc)))
                        continue
                    if value is not None:
                        show[name] = value
                if self.show_order_column:
                    show["_rank"] = _number(row.get(self.show_order_column))
                draft = shows[show_id] = Draft(show, [], where)
            elif draft.show["date"] != date.isoformat():
                refused.append(
                    Refused(where, f"show {show_id!r} is dated {draft.show['date']} at {draft.where}, here {date}")
                )
                continue
            if row.get("_show_only"):
                continue
            counts[show_id] = counts.get(show_id, 0) + 1
            play = self._play(row, where, counts[show_id], draft, refused)
            if play is not None:
                draft.plays.append(play)
        _order(list(shows.values()), self.newest_first)
        progress.total("shows", len(shows))
        for item in refused:
            yield item
        for draft in shows.values():
            yield draft

    def _play(
        self, row: dict[str, str], where: str, nth: int, draft: Draft, refused: list[Refused]
    ) -> dict[str, Any] | None:
        title = (row.get(self.song_column) or "").strip()
        song_id = (row.get(self.song_id_column) or "").strip() if self.song_id_column else ""
        if not title and not song_id:
            refused.append(Refused(where, f"{self.song_column} is empty"))
            return None
        if self.position_column:
            position = _number(row.get(self.position_column))
            if position is None or position < 1:
                refused.append(
                    Refused(
                        where, f"{self.position_column} {row.get(self.position_column)!r} is not a position (1, 2, ...)"
                    )
                )
                return None
        else:
            position = nth
        label = (row.get(self.set_column) or "").strip() if self.set_column else "1"
        set_ = self.set_map.get(label, label.lower())
        if set_ not in SET_LABELS:
            refused.append(
                Refused(
                    where,
                    f"{self.set_column} {label!r} is not a set; allowed: {', '.join(SET_LABELS)} "
                    f"(map it with --set-map {label}=SET)",
                )
            )
            return None
        taken = next((p for p in draft.plays if p["position"] == position), None)
        if taken is not None:
            refused.append(
                Refused(
                    where,
                    f"show {draft.show['show_id']!r} position {position} is given twice (first at {taken['_where']})",
                )
            )
            return None
        play: dict[str, Any] = {
            "position": position,
            "set": set_,
            "song_id": song_id or slug(title),
            "song_title": (title or f"Song {song_id}")[:TEXT_MAX],
            "_where": where,
        }
        for name, column in self.play_fields.items():
            try:
                value = _value(name, column, row)
            except ValueError as exc:
                refused.append(Refused(where, str(exc)))
                return None
            if value is not None:
                play[name] = value
        return play


def _order(drafts: list[Draft], newest_first: bool) -> None:
    """Each show's ``show_order`` among the shows of its date, unless a field gave it."""
    by_date: dict[str, list[tuple[int, Draft]]] = {}
    for at, draft in enumerate(reversed(drafts) if newest_first else drafts):
        by_date.setdefault(draft.show["date"], []).append((at, draft))
    for same_day in by_date.values():
        same_day.sort(key=lambda item: (item[1].show.get("_rank") is None, item[1].show.get("_rank") or 0, item[0]))
        for order, (_, draft) in enumerate(same_day, start=1):
            draft.show.pop("_rank", None)
            draft.show.setdefault("show_order", order)


def _fill(row: dict[str, str], joined: dict[str, str]) -> dict[str, str]:
    """A row with a joined row's columns where its own are missing or empty."""
    return {**joined, **{k: v for k, v in row.items() if v}}


def _table(path: Path, key: str) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if key not in (reader.fieldnames or ()):
            raise ColumnError(f"{path.name} has no column {key!r}; its columns: {', '.join(reader.fieldnames or ())}")
        return {row[key]: {**row, "_line": str(reader.line_num)} for row in reader}


def _date(text: str, fmt: str) -> dt.date:
    return dt.datetime.strptime(text.strip(), fmt).date()


def _number(text: str | None) -> int | None:
    try:
        return int(float(text)) if text and text.strip() else None
    except ValueError:
        return None


def _value(name: str, column: str, row: dict[str, str]) -> Any:
    """A field's value from its column, typed as the event's field is (None: absent)."""
    negate = column.startswith("!")
    text = row.get(column.lstrip("!")) or ""
    raw = text.strip()
    if name in _YES_NO:
        if raw.isdigit():  # a count (a second reprise: 2) is a yes
            return (raw.strip("0") != "") != negate
        if raw.lower() not in _BOOLS:
            raise ValueError(f"{column.lstrip('!')} {raw!r} is not yes or no (1/0, true/false)")
        return _BOOLS[raw.lower()] != negate
    if name == "show_order":
        number = _number(raw)
        return number if number and number >= 1 else None
    if name == "transition":
        return raw if raw in (",", ">", "->") else None
    return text[: _LIMITS.get(name, TEXT_MAX)] or None  # free text kept as written
