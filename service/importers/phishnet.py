"""``import phishnet``: phish.net API v5 (Phish, artistid 1).

One request lists every show (``shows/artist/phish.json``); each show wanted is fetched with
``setlists/showid/<id>.json``. Every value in a v5 row is text. A show's ``exclude_from_stats``
and a row's ``exclude`` make them not count; its ``soundcheck`` (titles, comma-separated)
becomes set ``s`` performances after the show's last position (ids from ``songs.json``, else
a slug of the title); shows of one date keep the
API's order. Wanted: with ``--full`` every show; else the shows not yet imported, the shows
updated (``updated_at``) since the last complete run, and the last ``RECENT_DAYS`` days of
shows before the newest imported (setlists are often completed after a show).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from .core import Checkpoint, Draft, Progress, Refused
from .csvfile import slug
from .fetch import Fetcher, FetchError

RECENT_DAYS = 30
ARTIST = "1"


def mark(text: str | None) -> str | None:
    """A transition as the contract has it (``,`` ``>`` ``->``), else none."""
    text = (text or "").strip()
    return text if text in (",", ">", "->") else None


def rows_of(body: Any, where: str) -> list[dict[str, Any]]:
    """A v5 answer's rows: ``{"error": ..., "data": [...]}`` (or a bare list)."""
    if isinstance(body, dict):
        if body.get("error") not in (None, False, 0, "0", "false"):
            raise FetchError(f"{where}: phish.net says {body.get('error_message') or body.get('error')}")
        body = body.get("data", [])
    if not isinstance(body, list):
        raise FetchError(f"{where}: expected a list of rows")
    return body


class PhishNet:
    name = "phishnet"

    def __init__(
        self,
        fetcher: Fetcher,
        api_key: str,
        since: str | None = None,
        full: bool = False,
        band: str = "phish",
        overlap_days: int = RECENT_DAYS,
    ) -> None:
        self.fetcher, self.key, self.since, self.full, self.band = fetcher, api_key, since, full, band
        self.overlap_days = overlap_days
        fetcher.secrets.append(api_key)
        self.cursor: dict[str, Any] = {}
        self.songs: dict[str, str] | None = None  # title (casefolded) -> songid, for soundchecks

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    async def _get(self, path: str) -> list[dict[str, Any]]:
        return rows_of(await self.fetcher.json(path, params={"apikey": self.key}), path)

    def _wanted(self, shows: list[dict[str, Any]], checkpoint: Checkpoint) -> list[dict[str, Any]]:
        last = checkpoint.cursor
        recent = None
        if last.get("newest"):
            recent = (dt.date.fromisoformat(last["newest"]) - dt.timedelta(days=self.overlap_days)).isoformat()
        out = []
        for show in shows:
            if self.since and show["showdate"] < self.since:
                continue
            if (
                self.full
                or show["showid"] not in checkpoint.shows
                or (show.get("updated_at") or "") > last.get("updated_at", "")
                or (recent is not None and show["showdate"] >= recent)
            ):
                out.append(show)
        return out

    async def drafts(self, checkpoint: Checkpoint, progress: Progress) -> AsyncIterator[Draft | Refused]:
        shows = [s for s in await self._get("shows/artist/phish.json") if str(s.get("artistid", ARTIST)) == ARTIST]
        shows.sort(key=lambda s: s["showdate"])  # stable: the API's order within a date
        orders: dict[str, int] = {}
        seen: dict[str, int] = {}
        for show in shows:
            seen[show["showdate"]] = seen.get(show["showdate"], 0) + 1
            orders[show["showid"]] = seen[show["showdate"]]
        wanted = self._wanted(shows, checkpoint)
        progress.total("shows", len(wanted))
        window = max(self.fetcher.slots._value, 1) * 2
        for start in range(0, len(wanted), window):
            part = wanted[start : start + window]
            setlists = await asyncio.gather(*(self._get(f"setlists/showid/{s['showid']}.json") for s in part))
            if self.songs is None and any(r.get("soundcheck") for rows in setlists for r in rows):
                self.songs = {
                    str(s.get("song", "")).casefold(): str(s["songid"]) for s in await self._get("songs.json")
                }
            for show, rows in zip(part, setlists, strict=True):
                yield self._draft(show, orders[show["showid"]], rows)
        self.cursor = {
            "updated_at": max([checkpoint.cursor.get("updated_at", ""), *(s.get("updated_at") or "" for s in shows)]),
            "newest": max([checkpoint.cursor.get("newest", ""), *(s["showdate"] for s in shows)]),
        }

    def _draft(self, show: dict[str, Any], order: int, rows: list[dict[str, Any]]) -> Draft:
        show_id = str(show["showid"])
        where = f"setlists/showid/{show_id}"
        fields = {
            "show_id": show_id,
            "date": show["showdate"],
            "show_order": order,
            "band_name": show.get("artist_name") or "Phish",
            "venue": show.get("venue") or None,
            "city": show.get("city") or None,
            "state": show.get("state") or None,
            "country": show.get("country") or None,
            "tour": show.get("tour_name") or None,
            "counts_for_stats": str(show.get("exclude_from_stats", "0")) != "1",
        }
        plays: list[dict[str, Any]] = []
        soundcheck = ""
        titles: dict[str, str] = dict(self.songs or {})
        for row in rows:
            if str(row.get("showid")) != show_id or str(row.get("artistid", ARTIST)) != ARTIST:
                continue
            soundcheck = soundcheck or row.get("soundcheck") or ""
            titles[(row.get("song") or "").casefold()] = str(row.get("songid"))
            set_ = str(row.get("set", "")).lower()
            plays.append(
                {
                    "position": int(row["position"]) if str(row.get("position", "")).isdigit() else 0,
                    "set": set_,  # one outside the contract refuses the play, named
                    "song_id": str(row.get("songid") or slug(row.get("song") or "")),
                    "song_title": row.get("song") or f"Song {row.get('songid')}",
                    "song_slug": row.get("slug") or None,
                    "transition": mark(row.get("trans_mark")),
                    "is_reprise": str(row.get("isreprise", "0")) not in ("0", ""),
                    "footnote": (row.get("footnote") or "")[:2000] or None,
                    "counts_for_stats": str(row.get("exclude", "0")) != "1",
                    "_where": f"{where} position {row.get('position')}",
                }
            )
        last = max((p["position"] for p in plays), default=0)
        for n, title in enumerate(t.strip() for t in soundcheck.split(",") if t.strip()):
            plays.append(
                {
                    "position": last + 1 + n,
                    "set": "s",
                    "song_id": titles.get(title.casefold()) or slug(title),
                    "song_title": title,
                    "_where": f"{where} soundcheck",
                }
            )
        return Draft(fields, plays, where)
