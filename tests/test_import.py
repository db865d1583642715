"""The CSV importer: files of the real histories equal the test converters' events (all
queries, oldest or newest shows first, twice = once), new shapes, shuffled rows, corrections."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

import datasets
import pytest
from compare import compare_aggregates, compare_details
from conftest import shared_data
from redis.asyncio import Redis
from reference import Reference

from projections.queries import Queries
from service.importers import core
from service.importers.csvfile import CsvSource, slug

D = datasets.DATA


def phish_csv(**overrides: Any) -> CsvSource:
    """phish/: plays in setlistdata.csv, shows (with those without a setlist), songs, venues and
    transition marks in files of their own."""
    return CsvSource(
        **{
            "path": D / "phish/setlistdata.csv",
            "band": "phish",
            "band_name": "Phish",
            "date_column": "showdate",
            "song_column": "song",
            "show_column": "showid",
            "position_column": "position",
            "song_id_column": "songid",
            "set_column": "set",
            "show_order_column": "show_number",
            "shows_file": (D / "phish/showdata.csv", "showid", "showid"),
            "joins": [
                (D / "phish/songdata.csv", "songid", "song_id"),
                (D / "phish/venuedata.csv", "venueid", "venueid"),
                (D / "phish/transitiondata.csv", "transition", "transition"),
            ],
            "show_fields": {
                "venue": "venue",
                "city": "city",
                "state": "state",
                "country": "country",
                "tour": "tourid",
                "counts_for_stats": "!exclude_from_stats",
            },
            "play_fields": {
                "transition": "trans_mark",
                "is_reprise": "isreprise",
                "footnote": "footnote",
                "counts_for_stats": "!exclude",
            },
            **overrides,
        }
    )


def goose_csv(**overrides: Any) -> CsvSource:
    return CsvSource(
        **{
            "path": D / "goose/setlistdata.csv",
            "band": "goose",
            "band_name": "Goose",
            "date_column": "show_date",
            "song_column": "song",
            "show_column": "show_id",
            "position_column": "position",
            "song_id_column": "song_id",
            "set_column": "setnumber",
            "shows_file": (D / "goose/showdata.csv", "show_id", "show_id"),
            "joins": [
                (D / "goose/songdata.csv", "song_id", "song_id"),
                (D / "goose/venuedata.csv", "venue_id", "venue_id"),
                (D / "goose/transitiondata.csv", "transition_id", "transition_id"),
            ],
            "show_fields": {
                "venue": "venuename",
                "city": "city",
                "state": "state",
                "country": "country",
                "tour": "tour_id",
                "show_order": "show_order",
            },
            "play_fields": {"transition": "transition", "is_reprise": "isreprise", "footnote": "footnote"},
            **overrides,
        }
    )


def reversed_file(path: Path, tmp: Path) -> Path:
    """The same rows, newest first (a file's rows in reverse; plays within a show in order)."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    shows: dict[str, list[list[str]]] = {}
    for row in body:
        shows.setdefault(row[header.index("showid" if "showid" in header else "show_id")], []).append(row)
    out = tmp / f"newest-{path.name}"
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for rows_of_show in reversed(list(shows.values())):
            w.writerows(rows_of_show)
    return out


def without_made_up_slugs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The converters' events without the slugs they make up (the CSV files carry none)."""
    return [{k: v for k, v in e.items() if k not in ("slug", "song_slug")} for e in events]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["goose", "phish"])
@pytest.mark.parametrize("newest_first", [False, True])
async def test_import_csv_equals_the_converters(
    name: str, newest_first: bool, redis: Redis, service: Queries, tmp_path: Path
) -> None:
    shared_data(name)
    source = phish_csv() if name == "phish" else goose_csv()
    if newest_first:
        source.path, source.newest_first = reversed_file(source.path, tmp_path), True
    summary = await core.run(redis, source, wait=True)
    assert summary.refused == [] and summary.dead_lettered == {}
    events = without_made_up_slugs(list(datasets.DATASETS[name]()))
    assert summary.shows == sum(e["type"] == "ShowRecorded" for e in events)
    assert summary.plays == sum(e["type"] == "PerformanceAdded" for e in events)
    ref = Reference(events)
    dates = sorted({e["date"] for e in events if e["type"] == "ShowRecorded"})
    for as_of in (dates[len(dates) // 2], dates[-1]):
        await compare_aggregates(service, ref, name, as_of)
    await compare_details(service, ref, name, dates[-1])
    again = await core.run(redis, source, wait=True)  # idempotent: nothing new, nothing published
    assert (again.published, again.unchanged, again.new, again.changed) == (0, summary.shows, 0, 0)


async def test_import_csv_a_new_shape_newest_first_with_set_typos(
    redis: Redis, service: Queries, tmp_path: Path
) -> None:
    """A shape no converter has: US dates, newest shows first, no ids, no positions, set labels
    as a site writes them (with typos mapped); a show is a date and venue."""
    shared_data("grateful-dead")
    events = [e for e in datasets.grateful_dead() if e.get("date", "1977") < "1978"]
    shows = {e["show_id"]: e for e in events if e["type"] == "ShowRecorded"}
    labels = {"1": "Set 1", "2": "Set II", "3": "set 3"}
    rows = []
    for show in sorted(shows.values(), key=lambda s: (s["date"], s["show_order"]), reverse=True):
        for p in sorted(
            (e for e in events if e.get("position") and e["show_id"] == show["show_id"]), key=lambda p: p["position"]
        ):
            day = dt.date.fromisoformat(show["date"])
            rows.append(
                {
                    "Date": day.strftime("%m/%d/%Y"),
                    "Venue": f"{show['venue']} #{show['show_order']}",
                    "Set": labels.get(p["set"], p["set"]),
                    "Song": p["song_title"],
                }
            )
    path = tmp_path / "gd.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["Date", "Venue", "Set", "Song"])
        w.writeheader()
        w.writerows(rows)
    source = CsvSource(
        path,
        band="gd",
        band_name="Grateful Dead",
        date_column="Date",
        date_format="%m/%d/%Y",
        song_column="Song",
        venue_column="Venue",
        set_column="Set",
        newest_first=True,
        set_map={"Set 1": "1", "Set II": "2", "set 3": "3"},
    )
    summary = await core.run(redis, source, wait=True)
    assert summary.refused == [] and summary.dead_lettered == {}
    played_shows = sorted(
        (s for s in shows.values() if any(e.get("position") and e["show_id"] == s["show_id"] for e in events)),
        key=lambda s: (s["date"], s["show_order"]),
    )
    rank = {
        s["show_id"]: sum(t["date"] == s["date"] for t in played_shows[: i + 1]) for i, s in enumerate(played_shows)
    }
    expected = []
    for show in shows.values():
        played = [e for e in events if e.get("position") and e["show_id"] == show["show_id"]]
        if not played:
            continue  # a show without plays is not in a file of plays
        show_id = f"{show['date']} {show['venue']} #{show['show_order']}"
        no_place = {k: v for k, v in show.items() if k not in ("city", "state", "country")}  # not in the file
        expected.append(
            {
                **no_place,
                "show_id": show_id,
                "venue": f"{show['venue']} #{show['show_order']}",
                "show_order": rank[show["show_id"]],  # among the shows of its date with plays
                "band": "gd",
            }
        )
        expected += [
            {
                **p,
                "band": "gd",
                "show_id": show_id,
                "song_id": slug(p["song_title"]),
                "transition": None,
                "song_slug": None,
            }
            for p in played
        ]
    ref = Reference(expected)
    for as_of in ("1970-01-01", "1974-06-01", "1977-12-31"):
        await compare_aggregates(service, ref, "gd", as_of, all_bands=False)
    await compare_details(service, ref, "gd", "1977-12-31")
    # a label nobody mapped is refused with its line; nothing else is
    source.set_map = {"Set 1": "1", "Set II": "2"}
    summary = await core.run(redis, source, dry_run=True)
    assert summary.refused and all("'set 3' is not a set" in r and w.startswith("line ") for w, r in summary.refused)


# -- the HTTP sources ------------------------------------------------------------------------


def test_shuffled_rows_do_not_matter(tmp_path: Path) -> None:
    """Positions given: the rows' order within the file changes no event."""
    shared_data("goose")
    with (D / "goose/setlistdata.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    random.Random(7).shuffle(body := rows[1:])
    path = tmp_path / "shuffled.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([rows[0], *body])

    async def drafts(source: CsvSource) -> dict[str, Any]:
        out = {}
        async for d in source.drafts(None, core.Quiet()):  # type: ignore[arg-type]
            if isinstance(d, core.Draft):
                events, _ = core.events_of("csv", "goose", d)
                out[d.show["show_id"]] = core.digest_of(events)
        return out

    assert asyncio.run(drafts(goose_csv(path=path))) == asyncio.run(drafts(goose_csv()))


async def test_a_corrected_file_publishes_only_its_changes(redis: Redis, service: Queries, tmp_path: Path) -> None:
    """A play deleted from the file and a title corrected: the next import publishes those two
    shows alone (a PerformanceRemoved for the position gone) and equals the corrected history."""
    shared_data("goose")
    with (D / "goose/setlistdata.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    first = await core.run(redis, goose_csv(), wait=True)
    gone, renamed = rows[5], rows[100]
    edited = [r for r in rows if r is not gone]
    path = tmp_path / "edited.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*rows[0].keys(), "song"])
        w.writeheader()
        w.writerows({**r, "song": "Corrected Title" if r is renamed else ""} for r in edited)
    source = goose_csv(path=path)  # the songs file's title where a row's own is empty
    second = await core.run(redis, source, wait=True)
    assert (second.changed, second.new, second.unchanged) == (2, 0, first.shows - 2), second
    assert second.published < 100 and second.dead_lettered == {}
    corrected = f"goose-perf-{renamed['uniqueid']}"
    events = [
        e for e in without_made_up_slugs(list(datasets.goose())) if e["event_id"] != f"goose-perf-{gone['uniqueid']}"
    ]
    # the corrected play is the log's newest event: its title is the song's (last written wins)
    events = [e for e in events if e["event_id"] != corrected] + [
        {**e, "song_title": "Corrected Title"} for e in events if e["event_id"] == corrected
    ]
    ref = Reference(events)
    await compare_aggregates(service, ref, "goose", "2025-07-01")
    await compare_details(service, ref, "goose", "2025-07-01")
