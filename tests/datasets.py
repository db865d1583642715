"""Test-side converters: the real histories in ../shared/data as contract events (dicts).

Written for the tests only; the service never reads these files.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

Event = dict[str, Any]


def available(name: str) -> bool:
    return (DATA / name).is_dir()


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:200]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        return list(csv.DictReader(f))


_TRANSITIONS = {",": ",", ">": ">", "->": "->"}


def _marks(path: Path, id_col: str, mark_col: str) -> dict[str, str | None]:
    return {row[id_col]: _TRANSITIONS.get(row[mark_col].strip()) for row in _csv(path)}


def _show_orders(shows: list[dict[str, str]], date_col: str, number_col: str) -> dict[str, int]:
    """1, 2, ... for the shows of one date, by their show number."""
    by_date: dict[str, list[dict[str, str]]] = {}
    for show in shows:
        by_date.setdefault(show[date_col], []).append(show)
    orders = {}
    for same_day in by_date.values():
        for i, show in enumerate(sorted(same_day, key=lambda s: int(s[number_col])), start=1):
            orders[show["_id"]] = i
    return orders


@functools.cache
def phish() -> tuple[Event, ...]:
    """Phish: every show of showdata.csv, every performance of setlistdata.csv."""
    root = DATA / "phish"
    titles = {row["song_id"]: row["song"] for row in _csv(root / "songdata.csv")}
    venues = {row["venueid"]: row for row in _csv(root / "venuedata.csv")}
    marks = _marks(root / "transitiondata.csv", "transition", "trans_mark")
    shows = _csv(root / "showdata.csv")
    for show in shows:
        show["_id"] = show["showid"]
    orders = _show_orders(shows, "showdate", "show_number")
    events: list[Event] = []
    for show in sorted(shows, key=lambda s: int(s["show_number"])):
        venue = venues.get(show["venueid"], {})
        events.append(
            {
                "type": "ShowRecorded",
                "event_id": f"phish-show-{show['showid']}",
                "band": "phish",
                "band_name": "Phish",
                "show_id": show["showid"],
                "date": show["showdate"],
                "show_order": orders[show["showid"]],
                "venue": venue.get("venue") or None,
                "city": venue.get("city") or None,
                "state": venue.get("state") or None,
                "country": venue.get("country") or None,
                "tour": show["tourid"] or None,
                "slug": f"{show['showdate']}-{slugify(venue.get('venue', ''))}".strip("-"),
                "counts_for_stats": show["exclude_from_stats"] != "1",
            }
        )
    for row in _csv(root / "setlistdata.csv"):
        title = titles.get(row["songid"]) or f"Song {row['songid']}"
        events.append(
            {
                "type": "PerformanceAdded",
                "event_id": f"phish-perf-{row['uniqueid']}",
                "band": "phish",
                "show_id": row["showid"],
                "position": int(row["position"]),
                "set": row["set"],
                "song_id": row["songid"],
                "song_title": title,
                "song_slug": slugify(title),
                "transition": marks.get(row["transition"]),
                "is_reprise": row["isreprise"] != "0",
                "footnote": row["footnote"][:2000] or None,
                "counts_for_stats": row["exclude"] != "1",
            }
        )
    return tuple(events)


def phish_gaps() -> dict[tuple[str, int], int]:
    """phish.net's own gap column: (show_id, position) -> gap in shows."""
    return {
        (row["showid"], int(row["position"])): int(row["gap"])
        for row in _csv(DATA / "phish" / "setlistdata.csv")
        if row["gap"].strip().lstrip("-").isdigit()
    }


@functools.cache
def goose() -> tuple[Event, ...]:
    """Goose: every show, every performance (positions run through the show)."""
    root = DATA / "goose"
    titles = {row["song_id"]: row["song"] for row in _csv(root / "songdata.csv")}
    venues = {row["venue_id"]: row for row in _csv(root / "venuedata.csv")}
    marks = _marks(root / "transitiondata.csv", "transition_id", "transition")
    events: list[Event] = []
    for show in sorted(_csv(root / "showdata.csv"), key=lambda s: int(s["show_number"])):
        venue = venues.get(show["venue_id"], {})
        events.append(
            {
                "type": "ShowRecorded",
                "event_id": f"goose-show-{show['show_id']}",
                "band": "goose",
                "band_name": "Goose",
                "show_id": show["show_id"],
                "date": show["show_date"],
                "show_order": max(int(show["show_order"] or 1), 1),
                "venue": venue.get("venuename") or None,
                "city": venue.get("city") or None,
                "state": venue.get("state") or None,
                "country": venue.get("country") or None,
                "tour": show["tour_id"] or None,
            }
        )
    for row in _csv(root / "setlistdata.csv"):
        title = titles.get(row["song_id"]) or f"Song {row['song_id']}"
        events.append(
            {
                "type": "PerformanceAdded",
                "event_id": f"goose-perf-{row['uniqueid']}",
                "band": "goose",
                "show_id": row["show_id"],
                "position": int(row["position"]),
                "set": row["setnumber"],
                "song_id": row["song_id"],
                "song_title": title,
                "transition": marks.get(row["transition_id"]),
                "is_reprise": row["isreprise"] == "1",
                "footnote": row["footnote"][:2000] or None,
            }
        )
    return tuple(events)


@functools.cache
def grateful_dead() -> tuple[Event, ...]:
    """Grateful Dead: one show a dated key of each year's YAML; sets numbered 1, 2, ..."""
    import yaml

    root = DATA / "grateful-dead"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    refs: dict[str, str] = {}
    for item in yaml.load((root / "song_refs.yaml").read_text(), Loader=loader):
        refs.update(item)
    events: list[Event] = []
    for path in sorted(root.glob("[0-9][0-9][0-9][0-9].yaml")):
        shows = yaml.load(path.read_text(), Loader=loader) or {}
        for key, show in shows.items():
            parts = str(key).split("/")
            date = "-".join(parts[:3])
            show_id = show[":uuid"]
            events.append(
                {
                    "type": "ShowRecorded",
                    "event_id": f"gd-show-{show_id}",
                    "band": "grateful-dead",
                    "band_name": "Grateful Dead",
                    "show_id": show_id,
                    "date": date,
                    "show_order": int(parts[3]) + 1 if len(parts) > 3 else 1,
                    "venue": show.get(":venue"),
                    "city": show.get(":city"),
                    "state": show.get(":state"),
                    "country": show.get(":country"),
                }
            )
            position = 0
            for set_number, set_ in enumerate(show.get(":sets") or [], start=1):
                for song in set_.get(":songs") or []:
                    position += 1
                    name = song[":name"]
                    events.append(
                        {
                            "type": "PerformanceAdded",
                            "event_id": f"gd-perf-{show_id}-{position}",
                            "band": "grateful-dead",
                            "show_id": show_id,
                            "position": position,
                            "set": str(min(set_number, 9)),
                            "song_id": refs.get(name) or slugify(name)[:64],
                            "song_title": name,
                            "song_slug": slugify(name),
                            "transition": ">" if song.get(":segued") else ",",
                        }
                    )
    return tuple(events)


DATASETS = {"phish": phish, "goose": goose, "grateful-dead": grateful_dead}
FOLDERS = {"phish": "phish", "goose": "goose", "grateful-dead": "grateful-dead"}
