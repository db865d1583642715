"""The dashboard: ``GET /`` serves one page (``dashboard/``: HTML, CSS and plain JavaScript
shipped in the package, no build step, nothing from a CDN) that asks the HTTP API for its
tables and follows ``GET /live/{band}`` for its ticker.

Its charts are SVG drawn here, on the server (``GET /charts/trends/{band}.svg``,
``GET /charts/song/{band}.svg?song_id=...``): no chart library to ship or keep up to date, the
same picture for any client (a setlist site may embed it as an image), crisp at any width.
``GET /dashboard/latest-show/{band}`` names the band's newest show (as of a date), the one the
page shows as tonight's setlist.
"""

from __future__ import annotations

import datetime as dt
import html
from importlib import resources
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, get
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from projections import keys
from projections.batch import active_generations
from projections.contract import QueryError, parse
from projections.events import BAND_PATTERN, ID_MAX, ID_PATTERN

CSS, JS, SVG = "text/css", "text/javascript", "image/svg+xml"
#: A chart's band: its slug, ``.svg`` after it
ChartBand = Annotated[str, PathParameter(pattern=BAND_PATTERN.removesuffix("$") + r"(\.svg)?$")]
Band = Annotated[str, PathParameter(pattern=BAND_PATTERN)]
Period = Annotated[Literal["month", "quarter", "year"], QueryParameter()]
SongId = Annotated[str, QueryParameter(pattern=ID_PATTERN, max_length=ID_MAX)]
AsOf = Annotated[dt.date | None, QueryParameter()]
FILES = {"dashboard.css": CSS, "dashboard.js": JS}
W, H, PAD = 1000, 260, 28  # a chart's drawing box (the SVG scales to its container)


def _file(name: str) -> bytes:
    return resources.files(__package__).joinpath("dashboard", name).read_bytes()


def dashboard_page() -> bytes:
    """The page (``GET /``, answered by ``http.FastAnswers``)."""
    return _file("index.html")


def _svg(body: list[str], note: str = "") -> bytes:
    head = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{html.escape(note)}">'
    style = "<style>text{font:11px system-ui,sans-serif;fill:#9aa4b2}.t{fill:#e6e9ef}</style>"
    return (head + style + "".join(body) + "</svg>").encode()


def trends_svg(rows: list[dict[str, Any]], period: str) -> bytes:
    """Shows per period as bars, performances per show as a line over them."""
    if not rows:
        return _svg([f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no shows yet</text>'], "no shows")
    top = max(r["shows"] for r in rows) or 1
    step = (W - 2 * PAD) / len(rows)
    body = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#3a4150"/>']
    points = []
    per_show = [r["performances"] / r["shows"] if r["shows"] else 0 for r in rows]
    top_ps = max(per_show) or 1
    label_every = max(1, len(rows) // 8)
    for i, r in enumerate(rows):
        x = PAD + i * step
        h = (H - 2 * PAD) * r["shows"] / top
        title = f"{r['period']}: {r['shows']} shows, {r['performances']} performances"
        body.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{H - PAD - h:.1f}" width="{max(step * 0.8, 0.5):.1f}" '
            f'height="{h:.1f}" fill="#4f8cff" rx="1"><title>{html.escape(title)}</title></rect>'
        )
        points.append(f"{x + step / 2:.1f},{H - PAD - (H - 2 * PAD) * per_show[i] / top_ps:.1f}")
        if i % label_every == 0:
            body.append(
                f'<text x="{x + step / 2:.1f}" y="{H - 8}" text-anchor="middle">{html.escape(r["period"])}</text>'
            )
    body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#ffb547" stroke-width="1.5"/>')
    body.append(
        f'<text x="{PAD}" y="14" class="t">shows per {period} (bars, up to {top}); songs per show (line)</text>'
    )
    return _svg(body, f"shows per {period}")


def song_svg(song: dict[str, Any], threshold: int = 101) -> bytes:
    """Each play's gap in shows since the one before, over time; bustouts stand out."""
    plays = [p for p in song["plays"] if p["gap_shows"] is not None]
    if not plays:
        return _svg([f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">one play or none: no gaps yet</text>'])
    days = [dt.date.fromisoformat(p["date"]).toordinal() for p in plays]
    lo, hi = min(days), max(days)
    top = max(max(p["gap_shows"] for p in plays), 1)
    body = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#3a4150"/>']
    for p, day in zip(plays, days, strict=True):
        x = PAD + (W - 2 * PAD) * ((day - lo) / (hi - lo) if hi > lo else 0.5)
        y = H - PAD - (H - 2 * PAD) * p["gap_shows"] / top
        colour = "#ff5c7a" if p["gap_shows"] >= threshold else "#4f8cff"
        tip = html.escape(f"{p['date']}: {p['gap_shows']} shows, {p['gap_days']} days since the play before")
        body.append(
            f'<line x1="{x:.1f}" y1="{H - PAD}" x2="{x:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-opacity=".5"/>'
        )
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{tip}</title></circle>')
    body.append(f'<text x="{PAD}" y="{H - 8}">{plays[0]["date"][:4]}</text>')
    body.append(f'<text x="{W - PAD}" y="{H - 8}" text-anchor="end">{plays[-1]["date"][:4]}</text>')
    title = f"{song['song_title']}: gap in shows before each play (up to {top}; red: {threshold} or more)"
    body.append(f'<text x="{PAD}" y="14" class="t">{html.escape(title)}</text>')
    return _svg(body, title)


def dashboard_routes(service: Any) -> list[Any]:
    async def answer(query: str, given: dict[str, Any]) -> Any:
        try:
            body, _ = await service.versioned(parse(query, given, strict=False))
        except QueryError as exc:
            if exc.code == "not_found":
                raise NotFoundException(exc.message) from None
            raise HTTPException(status_code=422, detail=exc.message) from None
        return msgspec.json.decode(body)

    charted = {
        200: ResponseSpec(data_container=None, description="the chart (image/svg+xml)", media_type=SVG),
        404: ResponseSpec(data_container=None, description="no such band (or song)"),
        422: ResponseSpec(data_container=None, description="a bad parameter, named"),
    }

    @get("/static/{name:str}", include_in_schema=False)
    async def static(name: Annotated[str, PathParameter()]) -> Response[bytes]:
        if name not in FILES:
            raise NotFoundException(f"no file {name}")
        return Response(_file(name), media_type=FILES[name], headers={"Cache-Control": "max-age=300"})

    @get(
        "/charts/trends/{band:str}",
        summary="Shows per period, as an SVG chart",
        tags=["dashboard"],
        media_type=SVG,
        responses=charted,
    )
    async def trends(band: ChartBand, period: Period = "year", as_of: AsOf = None) -> Response[bytes]:
        band = band.removesuffix(".svg")
        rows = await answer("trends", {"band": band, "period": period, "as_of": as_of and as_of.isoformat()})
        return Response(trends_svg(rows["trends"], period), media_type=SVG)

    @get(
        "/charts/song/{band:str}",
        summary="A song's gaps (song_id=...), as an SVG chart",
        tags=["dashboard"],
        media_type=SVG,
        responses=charted,
    )
    async def song(band: ChartBand, song_id: SongId, as_of: AsOf = None) -> Response[bytes]:
        given = {"band": band.removesuffix(".svg"), "song_id": song_id, "as_of": as_of and as_of.isoformat()}
        data = await answer("song", given)
        return Response(song_svg(data), media_type=SVG)

    @get(
        "/dashboard/latest-show/{band:str}",
        summary="The band's newest show up to a date",
        tags=["dashboard"],
        responses={422: ResponseSpec(data_container=None, description="a bad date")},
    )
    async def latest(band: Band, as_of: AsOf = None) -> dict[str, str | None]:
        day = (as_of or dt.datetime.now(dt.UTC).date()).isoformat()
        generation = (await active_generations(service.redis))[0]
        order = keys.band_key(band, "order", generation)
        newest = await service.redis.zrevrangebylex(order, f"({day}~", "-", start=0, num=1)
        if not newest:
            return {"show_id": None, "date": None}
        sk = newest[0].decode()
        tail = sk[keys.SHOWKEY_ID :]  # a code, or "~" and the show_id (see projections/keys.py)
        if not tail.startswith("~"):
            shows = keys.band_key(band, "shows", generation)
            tail = "~" + (await service.redis.hget(shows, "!" + tail) or b"").decode()
        return {"show_id": keys.unstored(tail[1:]), "date": sk[:10]}

    return [static, trends, song, latest]
