"""``import setlistfm``: setlist.fm REST API 1.0, an artist's setlists by MusicBrainz id.

Pages of ``artist/<mbid>/setlists?p=N`` (newest first, ``x-api-key``, JSON asked for with
``Accept``). A setlist's sets (``"sets": {"set": [...]}``) are numbered 1, 2, ... in order and
its encores (``"encore": N``) are ``e``, ``e2``, ``e3``; songs carry no ids, so a song's id is a
slug of its name; a song played from tape (``"tape": true``) is a performance that does not
count; a cover is a play like any other; ``info`` starting with ``>`` is a segue. The walk
stops, unless ``--full``, at the first page whose setlists were all updated (``lastUpdated``)
before the last complete run, or all dated before ``--since``; a run stopped midway resumes
at the page before the one it reached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from .core import Checkpoint, Draft, Progress, Refused
from .csvfile import slug
from .fetch import Fetcher


def _date(text: str) -> str:
    return dt.datetime.strptime(text, "%d-%m-%Y").date().isoformat()


class SetlistFm:
    name = "setlistfm"

    def __init__(
        self,
        fetcher: Fetcher,
        api_key: str,
        mbid: str,
        band: str | None = None,
        since: str | None = None,
        full: bool = False,
    ) -> None:
        self.fetcher, self.key, self.mbid = fetcher, api_key, mbid
        self.band = band or ""
        self.since, self.full = since, full
        fetcher.secrets.append(api_key)
        self.cursor: dict[str, Any] = {}

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    async def prepare(self) -> None:
        """The band's slug, when not given: a slug of the artist's name, from the first page."""
        if not self.band:
            items = (await self._page(1)).get("setlist") or [{}]
            name = (items[0].get("artist") or {}).get("name") or ""
            self.band = slug(name).encode("ascii", "ignore").decode()[:64].strip("-") or "band"

    async def _page(self, n: int) -> dict[str, Any]:
        body = await self.fetcher.json(
            f"artist/{self.mbid}/setlists",
            params={"p": n},
            headers={"x-api-key": self.key, "Accept": "application/json"},
        )
        return body if isinstance(body, dict) else {}

    async def drafts(self, checkpoint: Checkpoint, progress: Progress) -> AsyncIterator[Draft | Refused]:
        before = checkpoint.cursor.get("updated", "")
        page = max(int(checkpoint.resume.get("page", 1)) - 1, 1)
        newest = before
        pages: int | None = None
        while pages is None or page <= pages:
            body = await self._page(page)
            items = body.get("setlist") or []
            per_page = int(body.get("itemsPerPage") or 20)
            pages = -(-int(body.get("total") or 0) // per_page)
            progress.total("pages", pages)
            for item in items:
                draft = self._draft(item, f"page {page}")
                if draft is not None:
                    yield draft
            progress.advance("pages")
            await checkpoint.save_resume({"page": page})
            updated = [str(i.get("lastUpdated") or "") for i in items]
            newest = max([newest, *updated])
            dates = [_date(i["eventDate"]) for i in items if i.get("eventDate")]
            if not items:
                break
            if not self.full and before and all(u <= before for u in updated):
                break
            if self.since and dates and max(dates) < self.since:
                break
            page += 1
        self.cursor = {"updated": newest}

    def _draft(self, item: dict[str, Any], where: str) -> Draft | Refused | None:
        try:
            date = _date(item["eventDate"])
        except (KeyError, ValueError):
            return Refused(where, f"setlist {item.get('id')!r}: eventDate {item.get('eventDate')!r} is not dd-MM-yyyy")
        if self.since and date < self.since:
            return None
        venue = item.get("venue") or {}
        city = venue.get("city") or {}
        show = {
            "show_id": str(item.get("id")),
            "date": date,
            "band_name": (item.get("artist") or {}).get("name"),
            "venue": venue.get("name"),
            "city": city.get("name"),
            "state": city.get("state"),
            "country": (city.get("country") or {}).get("name"),
            "tour": (item.get("tour") or {}).get("name"),
        }
        sets = item.get("sets") or {}
        sets = sets.get("set", []) if isinstance(sets, dict) else sets
        plays = []
        number = 0
        position = 0
        for set_ in sets:
            encore = int(set_.get("encore") or 0)
            if encore:
                label = "e" if encore == 1 else f"e{min(encore, 3)}"
            else:
                number += 1
                label = str(min(number, 9))
            for song in set_.get("song") or []:
                position += 1
                name = (song.get("name") or "").strip()
                if not name:
                    continue  # an unknown song: setlist.fm lists it without a name
                plays.append(
                    {
                        "position": position,
                        "set": label,
                        "song_id": slug(name),
                        "song_title": name,
                        "transition": ">" if (song.get("info") or "").lstrip().startswith(">") else None,
                        "footnote": (song.get("info") or "")[:2000] or None,
                        "counts_for_stats": not song.get("tape"),
                        "_where": f"{where} setlist {item.get('id')} song {position}",
                    }
                )
        return Draft({k: v for k, v in show.items() if v is not None}, plays, f"{where} setlist {item.get('id')}")
