"""A seeded, realistic history of invented bands, generated in code for ``setlist-stats demo``.

Decades of tours of two-set shows with encores; a catalogue whose songs debut over the years,
a core rotation played most nights and rarities played seldom; reprises within a show,
two shows on one date, a hiatus (for bustouts), an excluded show and a soundcheck.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

WORDS = [
    "Amber",
    "Lantern",
    "Copper",
    "Meadow",
    "River",
    "Static",
    "Velvet",
    "Harbor",
    "Thunder",
    "Paper",
    "Glass",
    "Orbit",
    "Cedar",
    "Falcon",
    "Neon",
    "Marrow",
    "Hollow",
    "Signal",
    "Ember",
    "Tidal",
    "Silver",
    "Wander",
    "Morning",
    "Ghost",
    "Prairie",
    "Saffron",
    "Cobalt",
    "Juniper",
    "Lunar",
    "Drift",
    "Kettle",
    "Canyon",
    "Echo",
    "Violet",
    "Granite",
    "Willow",
    "Magnet",
    "Comet",
    "Ribbon",
    "Atlas",
    "Sparrow",
    "Oracle",
    "Harvest",
]
CITIES = [
    ("Burlington", "VT"),
    ("Portland", "ME"),
    ("Boulder", "CO"),
    ("Asheville", "NC"),
    ("Austin", "TX"),
    ("Chicago", "IL"),
    ("Brooklyn", "NY"),
    ("Berkeley", "CA"),
    ("Madison", "WI"),
    ("Richmond", "VA"),
]


@dataclass(frozen=True)
class Band:
    slug: str
    name: str
    first_year: int
    last_year: int
    hiatus: tuple[int, int]


BANDS = (
    Band("wandering-moons", "The Wandering Moons", 1991, 2025, (2005, 2008)),
    Band("copper-kettle", "Copper Kettle", 2009, 2025, (2020, 2020)),
)


def _title(rng: random.Random, used: set[str]) -> str:
    while True:
        title = " ".join(rng.sample(WORDS, rng.choice((1, 2, 2, 3))))
        if title not in used:
            used.add(title)
            return title


def _slug(text: str) -> str:
    return "-".join(text.lower().split())


def band_history(band: Band, rng: random.Random) -> Iterator[dict[str, Any]]:
    used: set[str] = set()
    catalogue: list[dict[str, Any]] = []
    n = 0

    def event(kind: str, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {"type": kind, "event_id": f"{band.slug}-{n}", "band": band.slug, **fields}

    for i in range(40):  # the songs of the first year
        catalogue.append(
            {
                "id": f"{band.slug[:2]}{i:03d}",
                "title": _title(rng, used),
                "from": band.first_year,
                "weight": rng.choice((30, 20, 10, 5, 2, 1)),
            }
        )
    for year in range(band.first_year, band.last_year + 1):
        if band.hiatus[0] <= year <= band.hiatus[1]:
            continue
        for _ in range(rng.randint(4, 9)):  # debuts this year
            i = len(catalogue)
            catalogue.append(
                {
                    "id": f"{band.slug[:2]}{i:03d}",
                    "title": _title(rng, used),
                    "from": year,
                    "weight": rng.choice((25, 12, 6, 3, 1)),
                }
            )
        for tour, month in enumerate(rng.sample((2, 4, 6, 7, 10, 12), rng.randint(1, 3))):
            day = dt.date(year, month, rng.randint(1, 10))
            for _ in range(rng.randint(6, 18)):
                day += dt.timedelta(days=rng.choice((1, 1, 1, 2, 3)))
                yield from _show(band, rng, catalogue, day, f"{year} tour {tour + 1}", 1, event)
                if rng.random() < 0.02:  # an early and a late show on one date
                    yield from _show(band, rng, catalogue, day, f"{year} tour {tour + 1}", 2, event)


def _show(
    band: Band, rng: random.Random, catalogue: list[dict[str, Any]], day: dt.date, tour: str, order: int, event: Any
) -> Iterator[dict[str, Any]]:
    show_id = f"{day.isoformat()}-{order}"
    city, state = rng.choice(CITIES)
    yield event(
        "ShowRecorded",
        show_id=show_id,
        date=day.isoformat(),
        show_order=order,
        band_name=band.name,
        venue=f"{city} {rng.choice(('Theatre', 'Arena', 'Ballroom', 'Amphitheater'))}",
        city=city,
        state=state,
        country="USA",
        tour=tour,
        slug=f"{day.isoformat()}-{_slug(city)}",
        counts_for_stats=rng.random() > 0.01,
    )
    pool = [s for s in catalogue if s["from"] <= day.year]
    weights = [s["weight"] for s in pool]
    chosen: list[dict[str, Any]] = []
    while len(chosen) < rng.randint(15, 21):
        song = rng.choices(pool, weights)[0]
        if song not in chosen:
            chosen.append(song)
    sets = ["1"] * (len(chosen) * 9 // 20) + ["2"] * (len(chosen) - len(chosen) * 9 // 20 - 2) + ["e", "e"]
    position = 0

    def performance(song: dict[str, Any], set_label: str, **extra: Any) -> dict[str, Any]:
        nonlocal position
        position += 1
        made: dict[str, Any] = event(
            "PerformanceAdded",
            show_id=show_id,
            position=position,
            set=set_label,
            song_id=song["id"],
            song_title=song["title"],
            **extra,
        )
        return made

    if rng.random() < 0.05:
        yield performance(rng.choice(pool), "s")
    for set_label, song in zip(sets, chosen, strict=True):
        slug = _slug(song["title"])
        yield performance(song, set_label, song_slug=slug, transition=rng.choice((",", ",", ">", "->")))
        if set_label == "2" and rng.random() < 0.04:  # a reprise later in the set
            yield performance(song, "2", song_slug=slug, is_reprise=True)


def history(seed: int = 2026) -> list[dict[str, Any]]:
    """Every event of the demo bands, in the order an importer would publish them."""
    rng = random.Random(seed)
    return [e for band in BANDS for e in band_history(band, rng)]


def tonight(
    events: list[dict[str, Any]], band: str = "wandering-moons", day: dt.date | None = None
) -> list[dict[str, Any]]:
    """A show of ``band`` dated ``day`` (default today, UTC: live, so it gets highlights),
    one event a line as a site's admin panel would send them during the show: its most
    overdue song (a bustout), a song never played before (a debut) and its most played one."""
    day = day or dt.datetime.now(dt.UTC).date()
    dates = {e["show_id"]: e["date"] for e in events if e["type"] == "ShowRecorded" and e["band"] == band}
    last: dict[str, str] = {}
    count: dict[str, int] = {}
    titles: dict[str, str] = {}
    for e in events:
        if (
            e["type"] == "PerformanceAdded"
            and e["band"] == band
            and e.get("counts_for_stats", True)
            and e["set"] != "s"
        ):
            last[e["song_id"]] = max(last.get(e["song_id"], ""), dates[e["show_id"]])
            count[e["song_id"]] = count.get(e["song_id"], 0) + 1
            titles[e["song_id"]] = e["song_title"]
    overdue = min((d, s) for s, d in last.items() if count[s] >= 5)[1]
    common = max(count, key=lambda s: (count[s], s))
    show_id = f"{day.isoformat()}-tonight"
    out: list[dict[str, Any]] = [
        {
            "type": "ShowRecorded",
            "event_id": f"{band}-{show_id}",
            "band": band,
            "show_id": show_id,
            "date": day.isoformat(),
            "venue": "The Tonight Theatre",
            "city": "Burlington",
        },
    ]
    for position, (song, title) in enumerate(
        ((common, titles[common]), (f"{band[:2]}-new", "Brand New Song"), (overdue, titles[overdue])), start=1
    ):
        out.append(
            {
                "type": "PerformanceAdded",
                "event_id": f"{band}-{show_id}-{position}",
                "band": band,
                "show_id": show_id,
                "position": position,
                "set": "1",
                "song_id": song,
                "song_title": title,
            }
        )
    return out
