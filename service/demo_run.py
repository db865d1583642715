"""``setlist-stats demo``: the generated history through the real consumer, then the answers as tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table

from .app import running
from .client import StatsClient
from .config import Settings
from .connect import redis_client
from .demo import BANDS, history
from .ingest import publish, wait_settled
from .progress import Progress


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """Rows under ``headers``, titled (``-`` for a missing value, ``(none)`` for no rows)."""
    out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, caption="(none)" if not rows else None)
    for header in headers:
        out.add_column(header)
    for row in rows:
        out.add_row(*("-" if v is None else str(v) for v in row))
    return out


async def report(client: StatsClient, band: str) -> list[RenderableType]:
    stats = await client.stats(band)
    as_of = stats.last_show
    out: list[RenderableType] = [
        f"\n=== {stats.vertical_name} ({band}): {stats.total_shows} shows, {stats.total_performances} plays, "
        f"{stats.unique_songs_played} songs, {stats.first_show} .. {as_of}; as of {as_of} ==="
    ]
    gaps = await client.gaps(band, as_of=as_of, min_plays=10, limit=8)
    out.append(
        table(
            "Overdue, in days (played 10+ times)",
            ["song", "last played", "days", "shows", "plays", "avg gap (days)"],
            [
                (
                    g.song_title,
                    g.last_played,
                    g.days_since_played,
                    g.shows_since_played,
                    g.total_plays,
                    g.average_gap_days,
                )
                for g in gaps
            ],
        )
    )
    gaps = await client.gaps(band, as_of=as_of, min_plays=10, limit=8, sort="shows")
    out.append(
        table(
            "Overdue, in shows (played 10+ times)",
            ["song", "last played", "shows", "avg gap (shows)", "plays"],
            [(g.song_title, g.last_played, g.shows_since_played, g.average_gap_shows, g.total_plays) for g in gaps],
        )
    )
    hot = await client.velocity(band, as_of=as_of, limit=8)
    out.append(
        table(
            "Hot right now",
            ["song", "30 days", "90 days", "365 days", "score"],
            [
                (
                    v.song_title,
                    v.plays_last_30_days,
                    v.plays_last_90_days,
                    v.plays_last_year,
                    v.velocity_score,
                )
                for v in hot
            ],
        )
    )
    bustouts = await client.bustouts(band, as_of=as_of, days=365, unit="shows", gap_threshold=50)
    out.append(
        table(
            "Bustouts in the last year (a gap of 50+ shows)",
            ["song", "date", "gap (shows)", "gap (days)", "previous"],
            [(b.song_title, b.bustout_date, b.gap_shows, b.gap_days, b.previous_play) for b in bustouts.bustouts[:8]],
        )
    )
    debuts = await client.debuts(band, as_of=as_of, days=365)
    out.append(
        table(
            "Debuts in the last year",
            ["song", "debut", "times played since"],
            [(d.song_title, d.debut_date, d.times_played_since) for d in debuts.debuts[:8]],
        )
    )
    return out


async def run_demo(url: str, seed: int) -> None:
    events = history(seed)
    settings = Settings.load(consumer="demo")
    redis = redis_client(url)
    try:
        async with running(settings, url):
            with Progress("published", len(events)) as bar:
                ids = await publish(redis, (json.dumps(e) for e in events), progress=bar.advance)
            with Progress("applied", len(ids)) as bar:
                settled = await wait_settled(redis, ids, progress=bar.update)
            print(f"{settled.applied} events applied, {settled.dead} dead-lettered", file=sys.stderr)
            async with StatsClient(url) as client:
                console = Console(width=None if sys.stdout.isatty() else 120)
                for band in BANDS:
                    console.print(*await report(client, band.slug), sep="\n", soft_wrap=True)
    finally:
        await redis.aclose()
