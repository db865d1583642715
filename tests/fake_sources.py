"""A real local HTTP server playing phish.net v5, setlist.fm 1.0 and phish.in v2, serving
pages of the recorded samples' shape generated from a real history, with faults on demand:
``fail(path_part, *faults)`` makes the next requests whose path holds ``path_part`` answer
``429`` (with Retry-After), ``500``, ``timeout`` (no answer in time), ``truncated`` (half a
JSON body) or ``404`` (a page missing), one fault per request, in order."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SECRET = "k3y-that-must-not-leak"
MBID = "e01646f2-2a04-450d-8bf2-0d993082e058"
STALL = 2.0  # seconds a "timeout" fault holds its answer: over the client's timeout in the tests


class Fake:
    def __init__(self, events: list[dict[str, Any]], per_page: int = 20) -> None:
        self.shows = [e for e in events if e["type"] == "ShowRecorded"]
        self.plays: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            if e["type"] == "PerformanceAdded":
                self.plays.setdefault(e["show_id"], []).append(e)
        self.per_page = per_page
        self.faults: list[tuple[str, str]] = []
        self.log: list[tuple[float, str, str | None]] = []  # (when, path, fault)
        self.lock = threading.Lock()

    def fail(self, part: str, *faults: str) -> None:
        with self.lock:
            self.faults.extend((part, f) for f in faults)

    def fault_for(self, path: str) -> str | None:
        with self.lock:
            for i, (part, fault) in enumerate(self.faults):
                if part in path:
                    del self.faults[i]
                    return fault
        return None

    def answer(self, path: str, query: dict[str, list[str]], headers: Any) -> tuple[int, Any]:
        if path.startswith("/v5/"):
            return self.phishnet(path, query)
        if path.startswith("/rest/1.0/"):
            return self.setlistfm(path, query, headers)
        return self.phishin(path, query)

    # -- phish.net v5 ------------------------------------------------------------------------

    def phishnet(self, path: str, query: dict[str, list[str]]) -> Any:
        if query.get("apikey") != [SECRET]:
            return 401, {"error": True, "error_message": "invalid apikey"}
        if path == "/v5/shows/artist/phish.json":
            rows = [
                {
                    "showid": s["show_id"],
                    "showdate": s["date"],
                    "artistid": "1",
                    "artist_name": "Phish",
                    "exclude_from_stats": "0" if s.get("counts_for_stats", True) else "1",
                    "venue": s.get("venue") or "",
                    "city": s.get("city") or "",
                    "state": s.get("state") or "",
                    "country": s.get("country") or "",
                    "tour_name": s.get("tour") or "",
                    "updated_at": "2024-07-02 15:24:49",
                }
                for s in self.shows
            ]
            return 200, {"error": False, "error_message": "", "data": rows}
        if path.startswith("/v5/setlists/showid/"):
            show_id = path.rsplit("/", 1)[1].removesuffix(".json")
            rows = [
                {
                    "showid": p["show_id"],
                    "artistid": "1",
                    "songid": p["song_id"],
                    "song": p["song_title"],
                    "slug": p.get("song_slug") or "",
                    "position": str(p["position"]),
                    "set": p["set"],
                    "trans_mark": f" {p['transition']} " if p.get("transition") else "",
                    "isreprise": "1" if p.get("is_reprise") else "0",
                    "footnote": p.get("footnote") or "",
                    "exclude": "0" if p.get("counts_for_stats", True) else "1",
                    "soundcheck": "",
                }
                for p in self.plays.get(show_id, [])
            ]
            return 200, {"error": False, "error_message": "", "data": rows}
        return 404, {"error": True, "error_message": "no such method"}

    # -- setlist.fm 1.0 ----------------------------------------------------------------------

    def setlistfm(self, path: str, query: dict[str, list[str]], headers: Any) -> Any:
        if headers.get("x-api-key") != SECRET:
            return 403, {"code": 403, "message": "Forbidden"}
        if path != f"/rest/1.0/artist/{MBID}/setlists":
            return 404, {"code": 404, "message": "not found"}
        newest = sorted(self.shows, key=lambda s: (s["date"], s.get("show_order", 1)), reverse=True)
        page = int(query.get("p", ["1"])[0])
        items = newest[(page - 1) * self.per_page : page * self.per_page]
        if not items:
            return 404, {"code": 404, "message": "page not found"}
        return 200, {
            "type": "setlists",
            "itemsPerPage": self.per_page,
            "page": page,
            "total": len(newest),
            "setlist": [self._setlist(s) for s in items],
        }

    def _setlist(self, show: dict[str, Any]) -> dict[str, Any]:
        sets: list[dict[str, Any]] = []
        for p in sorted(self.plays.get(show["show_id"], []), key=lambda p: p["position"]):
            encore = {"e": 1, "e2": 2, "e3": 3}.get(p["set"])
            key = ("e", encore) if encore else ("s", p["set"])
            if not sets or sets[-1]["_key"] != key:
                sets.append(
                    {"_key": key, "name": f"Set {p['set']}:", **({"encore": encore} if encore else {}), "song": []}
                )
            song: dict[str, Any] = {"name": p["song_title"]}
            if p.get("transition") == ">":
                song["info"] = ">"
            sets[-1]["song"].append(song)
        for s in sets:
            del s["_key"]
        day = dt.date.fromisoformat(show["date"])
        return {
            "id": show["show_id"],
            "eventDate": day.strftime("%d-%m-%Y"),
            "lastUpdated": "2023-04-24T21:53:04.609+0000",
            "artist": {"mbid": MBID, "name": "Phish"},
            "venue": {
                "name": show.get("venue") or "",
                "city": {"name": show.get("city") or "", "country": {"name": "USA"}},
            },
            "sets": {"set": sets},
        }

    # -- phish.in v2 -------------------------------------------------------------------------

    def phishin(self, path: str, query: dict[str, list[str]]) -> Any:
        if path == "/api/v2/shows":
            page = int(query.get("page", ["1"])[0])
            per_page = int(query.get("per_page", ["20"])[0])
            ordered = sorted(self.shows, key=lambda s: s["date"])
            items = ordered[(page - 1) * per_page : page * per_page]
            pages = -(-len(ordered) // per_page)
            return 200, {
                "shows": [self._phishin(s, tracks=False) for s in items],
                "total_pages": pages,
                "current_page": page,
                "total_entries": len(ordered),
            }
        if path.startswith("/api/v2/shows/"):
            date = path.rsplit("/", 1)[1]
            show = next((s for s in self.shows if s["date"] == date), None)
            if show is None:
                return 404, {"message": "Show not found"}
            return 200, self._phishin(show, tracks=True)
        return 404, {"message": "not found"}

    def _phishin(self, show: dict[str, Any], tracks: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": int(show["show_id"]) if show["show_id"].isdigit() else show["show_id"],
            "date": show["date"],
            "venue_name": show.get("venue"),
            "venue": {"name": show.get("venue"), "city": show.get("city"), "state": show.get("state")},
            "tour_name": show.get("tour"),
            "updated_at": "2024-11-27T15:50:34-05:00",
        }
        if tracks:
            names = {"e": "Encore", "e2": "Encore 2", "s": "Soundcheck"}
            out["tracks"] = [
                {
                    "position": p["position"],
                    "set_name": names.get(p["set"], f"Set {p['set']}"),
                    "title": p["song_title"],
                    "songs": [{"slug": p["song_id"], "title": p["song_title"]}],
                }
                for p in sorted(self.plays.get(show["show_id"], []), key=lambda p: p["position"])
            ]
        return out


class Samples(Fake):
    """The recorded answers of ../shared/data/api-samples, served as they were recorded (phish.net
    rows as a bare list, the setlist.fm page, the phish.in show): the shows list of phish.net
    holds its sample show and the shows its setlist samples name."""

    def __init__(self, root: Path) -> None:
        super().__init__([])
        self.root = root

    def _load(self, name: str) -> Any:
        return json.loads((self.root / name).read_text(encoding="utf-8"))

    def answer(self, path: str, query: dict[str, list[str]], headers: Any) -> tuple[int, Any]:
        rows = self._load("phishnet-v5/performances.json") + self._load("phishnet-v5/notes.json")
        if path == "/v5/shows/artist/phish.json":
            named = {
                r["showid"]: {k: r[k] for k in ("showid", "showdate", "venue", "city", "state", "country", "artistid")}
                for r in rows
            }
            return 200, self._load("phishnet-v5/shows.json") + list(named.values())
        if path.startswith("/v5/setlists/showid/"):
            show_id = path.rsplit("/", 1)[1].removesuffix(".json")
            return 200, [r for r in rows if r["showid"] == show_id]
        if path == "/v5/songs.json":
            return 200, self._load("phishnet-v5/songs.json")
        if path.startswith("/rest/1.0/"):
            page = self._load("setlistfm/phish-setlists-page1.json")
            page["total"] = len(page["setlist"])  # the one page recorded
            return (200, page) if query.get("p", ["1"]) == ["1"] else (404, {"code": 404, "message": "not found"})
        if path == "/api/v2/shows":
            return 200, {"shows": self._load("phishin-v2/show-2024-10-26.json"), "total_pages": 1}
        return 404, {"message": "not found"}


@contextmanager
def serve(fake: Fake) -> Iterator[str]:
    """The fake's server on a free local port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            fault = fake.fault_for(self.path)
            fake.log.append((time.monotonic(), self.path, fault))
            if fault == "timeout":
                time.sleep(STALL)
            elif fault == "429":
                return self._send(429, b'{"message": "slow down"}', {"Retry-After": "1"})
            elif fault == "500":
                return self._send(500, b"internal error")
            elif fault == "404":
                return self._send(404, b'{"message": "page not found"}')
            status, body = fake.answer(url.path, query, self.headers)
            data = json.dumps(body).encode()
            if fault == "truncated":
                data = data[: len(data) // 2]
            self._send(status, data)

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
