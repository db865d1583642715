"""``setlist-stats import SOURCE ...``: the importers' flags, a rich progress display on
stderr, and the summary (JSON on stdout; refused rows with where and why on stderr)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from ..config import Settings
from ..connect import redis_client
from ..progress import bar
from .core import Source, Summary, run

#: Refusals printed in full; the rest are counted.
SHOWN = 50


class RichProgress:
    """One bar per thing counted (pages, shows), on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def _task(self, what: str) -> Any:
        if what not in self.tasks:
            self.tasks[what] = self.progress.add_task(what, total=None)
        return self.tasks[what]

    def total(self, what: str, n: int | None) -> None:
        self.progress.update(self._task(what), total=n)

    def advance(self, what: str, n: int = 1) -> None:
        self.progress.advance(self._task(what), n)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for value in values:
        for item in value.split(","):
            name, sep, column = item.partition("=")
            if not sep or not name or not column:
                raise SystemExit(f"{flag} {item!r}: expected NAME=VALUE")
            out[name.strip()] = column.strip()
    return out


def _join(value: str, flag: str) -> tuple[Path, str, str]:
    path, sep, columns = value.rpartition(":")
    if not sep or not path or not columns:
        raise SystemExit(f"{flag} {value!r}: expected FILE:COLUMN or FILE:LEFT=RIGHT")
    left, _, right = columns.partition("=")
    return Path(path), left, right or left


def _key(args: argparse.Namespace, env: str) -> str:
    key = args.api_key or os.environ.get(env)
    if not key:
        raise SystemExit(f"an API key is needed: --api-key KEY or the environment variable {env}")
    return key


def source_of(args: argparse.Namespace) -> Source:
    from .csvfile import CsvSource

    if args.source == "csv":
        if not args.file.is_file():
            raise SystemExit(f"cannot read {args.file}: no such file")
        try:
            return CsvSource(
                args.file,
                band=args.band,
                band_name=args.band_name,
                date_column=args.date_column,
                date_format=args.date_format,
                song_column=args.song_column,
                venue_column=args.venue_column,
                set_column=args.set_column,
                show_column=args.show_column,
                position_column=args.position_column,
                song_id_column=args.song_id_column,
                show_order_column=args.show_order_column,
                newest_first=args.newest_first,
                set_map=_pairs(args.set_map, "--set-map"),
                joins=[_join(j, "--join") for j in args.join],
                shows_file=_join(args.shows, "--shows") if args.shows else None,
                show_fields=_pairs(args.show_field, "--show-field"),
                play_fields=_pairs(args.play_field, "--play-field"),
            )
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    from . import phishin, phishnet, setlistfm
    from .fetch import Fetcher

    fetcher = Fetcher(args.base_url, rate=args.rate, concurrency=args.concurrency, timeout=args.http_timeout)
    if args.source == "phishnet":
        return phishnet.PhishNet(
            fetcher,
            _key(args, "PHISHNET_API_KEY"),
            since=args.since,
            full=args.full,
            band=args.band or "phish",
            overlap_days=Settings.load().import_overlap_days,
        )
    if args.source == "setlistfm":
        return setlistfm.SetlistFm(
            fetcher, _key(args, "SETLISTFM_API_KEY"), args.artist_mbid, band=args.band, since=args.since, full=args.full
        )
    return phishin.PhishIn(
        fetcher, since=args.since, full=args.full, api_key=args.api_key or os.environ.get("PHISHIN_API_KEY")
    )


async def _import(url: str, args: argparse.Namespace) -> Summary:
    source = source_of(args)
    redis = redis_client(url)
    console = Console(stderr=True)
    try:
        with bar(console) as display:
            return await run(
                redis,
                source,
                dry_run=args.dry_run,
                wait=args.wait,
                timeout=args.timeout,
                progress=RichProgress(display),
                chunk=Settings.load().import_chunk,
            )
    finally:
        await redis.aclose()
        close = getattr(source, "aclose", None)
        if close:
            await close()


def cmd_import(args: argparse.Namespace, url: str) -> int:
    from .csvfile import ColumnError
    from .fetch import FetchError

    try:
        summary = asyncio.run(_import(url, args))
    except (ColumnError, FetchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the next run continues where this one stopped", file=sys.stderr)
        return 130
    for where, reason in summary.refused[:SHOWN]:
        print(f"refused {where}: {reason}", file=sys.stderr)
    if len(summary.refused) > SHOWN:
        print(f"... and {len(summary.refused) - SHOWN} more refused", file=sys.stderr)
    for entry, reason in list((summary.dead_lettered or {}).items())[:SHOWN]:
        print(f"dead-lettered {entry}: {reason}", file=sys.stderr)
    what = "would publish" if summary.dry_run else "published"
    print(
        f"{summary.source} -> {summary.band}: {summary.shows} shows ({summary.new} new, {summary.changed} changed, "
        f"{summary.unchanged} unchanged), {summary.plays} plays; {what} {summary.published} events; "
        f"{len(summary.refused)} refused",
        file=sys.stderr,
    )
    print(json.dumps(summary.to_dict()))
    return 1 if summary.refused or summary.dead_lettered else 0


def add_parser(sub: Any, func: Any) -> None:
    s = sub.add_parser("import", help="import a band's history from a source (phish.net, setlist.fm, phish.in, a CSV)")
    sources = s.add_subparsers(dest="source", required=True, metavar="SOURCE")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dry-run", action="store_true", help="read the source and report; publish and record nothing")
        p.add_argument(
            "--wait", action="store_true", help="return when every published event is applied or dead-lettered"
        )
        p.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits at most (default 3600)")
        p.set_defaults(func=func)

    def web(p: argparse.ArgumentParser, base: str) -> None:
        p.add_argument("--since", metavar="YYYY-MM-DD", help="only shows dated on or after this day")
        p.add_argument("--full", action="store_true", help="fetch every show again, not only what is new or changed")
        p.add_argument("--base-url", default=base, help=f"the API's address (default {base})")
        p.add_argument("--rate", type=float, default=2.0, help="requests per second at most (default 2)")
        p.add_argument("--concurrency", type=int, default=4, help="requests in flight at most (default 4)")
        p.add_argument("--http-timeout", type=float, default=30.0, help="seconds one request may take (default 30)")

    c = sources.add_parser("csv", help="a CSV file with one row per play")
    c.add_argument("file", type=Path, metavar="FILE")
    c.add_argument("--band", required=True, help="the band's slug")
    c.add_argument("--band-name", required=True)
    c.add_argument("--date-column", required=True)
    c.add_argument("--date-format", default="%Y-%m-%d", help="strptime format of the dates (default %%Y-%%m-%%d)")
    c.add_argument("--song-column", required=True, help="the song's title")
    c.add_argument("--venue-column")
    c.add_argument("--set-column", help="set labels: 1..9, e, e2, e3, p, s (default: every play in set 1)")
    c.add_argument("--show-column", help="a show's id (default: its date and venue)")
    c.add_argument("--position-column", help="a play's position in its show (default: row order)")
    c.add_argument("--song-id-column", help="a song's id (default: a slug of its title)")
    c.add_argument("--show-order-column", help="ranks the shows of one date (default: the order they appear in)")
    c.add_argument("--newest-first", action="store_true", help="the file lists the newest shows first")
    c.add_argument("--set-map", action="append", default=[], metavar="LABEL=SET,...", help="map the file's set labels")
    c.add_argument(
        "--join",
        action="append",
        default=[],
        metavar="FILE:COLUMN",
        help="add columns from FILE by COLUMN (or LEFT=RIGHT)",
    )
    c.add_argument(
        "--shows", metavar="FILE:COLUMN", help="a file of shows, joined by COLUMN; its shows without plays recorded too"
    )
    c.add_argument(
        "--show-field",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="another ShowRecorded field (!COLUMN negates yes/no)",
    )
    c.add_argument(
        "--play-field",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="another PerformanceAdded field (!COLUMN negates yes/no)",
    )
    common(c)

    p = sources.add_parser("phishnet", help="phish.net API v5")
    p.add_argument("--api-key", help="the API key (default: PHISHNET_API_KEY)")
    p.add_argument("--band", help="the band's slug (default phish)")
    web(p, "https://api.phish.net/v5")
    common(p)

    f = sources.add_parser("setlistfm", help="setlist.fm REST API 1.0")
    f.add_argument("--api-key", help="the API key (default: SETLISTFM_API_KEY)")
    f.add_argument("--artist-mbid", required=True, help="the artist's MusicBrainz id")
    f.add_argument("--band", help="the band's slug (default: a slug of the artist's name)")
    web(f, "https://api.setlist.fm/rest/1.0")
    common(f)

    i = sources.add_parser("phishin", help="phish.in API v2")
    i.add_argument("--api-key", help="a bearer token, if the API asks for one (default: PHISHIN_API_KEY)")
    i.add_argument("--band", help="the band's slug (default phish)")
    web(i, "https://phish.in/api/v2")
    common(i)
