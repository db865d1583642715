"""``import phishin``: phish.in API v2 (Phish's recorded shows, one a date).

Pages of ``shows?page=N&per_page=PER_PAGE`` list the shows; a show listed without its tracks
is fetched by date (``shows/<date>``). A show's id is phish.in's; each song of a track is a
play (a track holding two songs gives two positions); set names (``Set 1``, ``Encore``,
``Soundcheck``...) map to the contract's labels, another refuses the play. Wanted: with
``--full`` every show; else the shows not yet imported or updated since the last complete run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .core import Checkpoint, Draft, Progress, Refused
from .fetch import Fetcher

PER_PAGE = 100
SETS = {
    "set 1": "1",
    "set 2": "2",
    "set 3": "3",
    "set 4": "4",
    "set 5": "5",
    "encore": "e",
    "encore 2": "e2",
    "encore 3": "e3",
    "soundcheck": "s",
    "pre-show": "p",
}


def _shows(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return body["shows"] if isinstance(body.get("shows"), list) else [body]
    return []


class PhishIn:
    name = "phishin"

    def __init__(
        self,
        fetcher: Fetcher,
        since: str | None = None,
        full: bool = False,
        api_key: str | None = None,
        band: str = "phish",
    ) -> None:
        self.fetcher, self.since, self.full, self.band = fetcher, since, full, band
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        if api_key:
            fetcher.secrets.append(api_key)
        self.cursor: dict[str, Any] = {}

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    async def drafts(self, checkpoint: Checkpoint, progress: Progress) -> AsyncIterator[Draft | Refused]:
        listed: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            body = await self.fetcher.json("shows", params={"page": page, "per_page": PER_PAGE}, headers=self.headers)
            listed.extend(_shows(body))
            pages = int(body.get("total_pages") or 1) if isinstance(body, dict) else 1
            progress.total("pages", pages)
            progress.advance("pages")
            page += 1
        before = checkpoint.cursor.get("updated_at", "")
        wanted = [
            s
            for s in listed
            if (not self.since or s["date"] >= self.since)
            and (self.full or str(s["id"]) not in checkpoint.shows or (s.get("updated_at") or "") > before)
        ]
        progress.total("shows", len(wanted))
        for show in sorted(wanted, key=lambda s: s["date"]):
            if "tracks" not in show:
                [show] = _shows(await self.fetcher.json(f"shows/{show['date']}", headers=self.headers))[:1]
            yield self._draft(show)
        self.cursor = {"updated_at": max([before, *(s.get("updated_at") or "" for s in listed)])}

    def _draft(self, show: dict[str, Any]) -> Draft:
        where = f"shows/{show['date']}"
        venue = show.get("venue") or {}
        fields = {
            "show_id": str(show["id"]),
            "date": show["date"],
            "band_name": "Phish",
            "venue": show.get("venue_name") or venue.get("name"),
            "city": venue.get("city"),
            "state": venue.get("state"),
            "country": venue.get("country"),
            "tour": show.get("tour_name"),
        }
        plays = []
        position = 0
        for track in sorted(show.get("tracks") or [], key=lambda t: t.get("position") or 0):
            label = (track.get("set_name") or "").strip()
            songs = track.get("songs") or [{"slug": track.get("slug"), "title": track.get("title")}]
            for song in songs:
                position += 1
                plays.append(
                    {
                        "position": position,
                        "set": SETS.get(label.lower(), label),
                        "song_id": song.get("slug") or "",
                        "song_title": song.get("title") or track.get("title") or "",
                        "song_slug": song.get("slug"),
                        "_where": f"{where} track {track.get('position')}",
                    }
                )
        return Draft({k: v for k, v in fields.items() if v is not None}, plays, where)
