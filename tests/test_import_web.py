"""The HTTP importers (phish.net, setlist.fm, phish.in): each through a real local server with
a 429 and its Retry-After, 500s, a timeout, a truncated page, a page missing and a run killed
midway, then resumed: its projections equal a clean import's (all queries), and its API key
appears in no message; the recorded samples of the real APIs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import datasets
import pytest
from compare import compare_aggregates, compare_details
from conftest import shared_data
from fake_sources import MBID, SECRET, Fake, Samples, serve
from redis.asyncio import Redis
from reference import Reference

from projections import keys
from projections.contract import QueryError
from projections.queries import Queries
from service.importers import core
from service.importers.fetch import Fetcher, FetchError
from service.importers.phishin import PhishIn
from service.importers.phishnet import PhishNet
from service.importers.setlistfm import SetlistFm

D = datasets.DATA


def history() -> list[dict[str, Any]]:
    """Phish 1997-1998, one show a date (phish.in keys shows by date), sets 1..3 and encores."""
    shared_data("phish")
    shows = {e["show_id"]: e for e in datasets.phish() if e["type"] == "ShowRecorded" and "1997" <= e["date"] < "1999"}
    dates: dict[str, int] = {}
    for s in shows.values():
        dates[s["date"]] = dates.get(s["date"], 0) + 1
    keep = {i for i, s in shows.items() if dates[s["date"]] == 1 and s.get("counts_for_stats", True)}
    return [
        e
        for e in datasets.phish()
        if e["show_id"] in keep and (e["type"] == "ShowRecorded" or e["set"] in ("1", "2", "3", "e", "e2"))
    ]


def source_of(name: str, base: str, band: str) -> Any:
    fetcher = Fetcher(
        base + {"phishnet": "/v5", "setlistfm": "/rest/1.0", "phishin": "/api/v2"}[name],
        rate=0,
        concurrency=4,
        timeout=0.5,
        attempts=6,
        backoff=0.05,
        max_wait=5,
    )
    if name == "phishnet":
        return PhishNet(fetcher, SECRET, band=band)
    if name == "setlistfm":
        return SetlistFm(fetcher, SECRET, MBID, band=band)
    return PhishIn(fetcher, band=band)


async def answers(queries: Queries, band: str, as_of: str) -> dict[str, Any]:
    """Every query of a band (the band's slug left out, so that two bands compare)."""
    out: dict[str, Any] = {}
    for name, params in (
        ("gaps", {"min_plays": 0, "limit": 200}),
        ("gaps", {"sort": "shows"}),
        ("velocity", {"limit": 200}),
        ("trends", {"period": "month"}),
        ("stats", {}),
        ("bustouts", {"days": 100000, "gap_threshold": 20}),
        ("debuts", {"days": 100000}),
    ):
        out[f"{name} {params}"] = await queries.answer(name, {"band": band, "as_of": as_of, **params})
    shows = await queries.answer("trends", {"band": band, "as_of": as_of, "period": "year"})
    out["shows"] = shows
    songs = [row["song_id"] for row in out["gaps {'min_plays': 0, 'limit': 200}"]]
    for song_id in songs:
        out[f"song {song_id}"] = await queries.answer("song", {"band": band, "song_id": song_id, "as_of": as_of})
    for e in await _show_ids(queries, band):
        try:
            out[f"setlist {e}"] = await queries.answer("setlist", {"band": band, "show_id": e, "as_of": as_of})
        except QueryError as exc:
            out[f"setlist {e}"] = exc.message
    text = repr(out).replace(f"'{band}'", "'BAND'")
    return {"all": text}


async def _show_ids(queries: Queries, band: str) -> list[str]:
    rows = await queries.answer("debuts", {"band": band, "days": 100000, "as_of": "2030-01-01"})
    return sorted({d["show_id"] for d in rows["debuts"]})


@pytest.mark.parametrize("name", ["phishnet", "setlistfm", "phishin"])
async def test_http_import_survives_faults_and_resumes(
    name: str, redis: Redis, service: Queries, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each scenario imports into a band of its own; after each, every query of that band
    equals the clean import's."""
    caplog.set_level(logging.DEBUG)
    fake = Fake(history())
    page = {"phishnet": "setlists/showid/", "setlistfm": "setlists", "phishin": "/api/v2/shows/"}[name]
    errors: list[str] = []

    async def same_as_clean(band: str) -> None:
        for as_of in ("1997-08-01", "2030-01-01"):
            assert await answers(service, band, as_of) == await answers(service, "clean", as_of), band
        checkpoint = await redis.hgetall(keys.import_key(band, name))
        assert b"cursor" in checkpoint and b"resume" not in checkpoint

    with serve(fake) as base:
        clean = await core.run(redis, source_of(name, base, "clean"), wait=True)
        assert clean.refused == [] and clean.dead_lettered == {} and clean.shows > 100

        # a 429 with Retry-After, two 500s, a timeout and a truncated page: each retried
        fake.fail("shows" if name != "setlistfm" else "setlists", "429")
        fake.fail(page, "500", "500", "timeout", "truncated")
        recovered = await core.run(redis, source_of(name, base, "faults"), wait=True)
        assert fake.faults == [] and recovered.refused == [] and recovered.shows == clean.shows
        retry_after = next(t for t, _, fault in fake.log if fault == "429")
        after = next(t for t, _, _ in fake.log if t > retry_after)
        assert after - retry_after >= 0.95  # Retry-After: 1 was honoured
        await same_as_clean("faults")

        # a page missing from the middle: the run stops, names it; the next one completes
        fake.fail(page, *["ok"] * (3 if name == "setlistfm" else 25), "404")
        with pytest.raises(FetchError) as failed:
            await core.run(redis, source_of(name, base, "missing"), wait=True)
        errors.append(str(failed.value))
        assert "HTTP 404" in str(failed.value)
        await core.run(redis, source_of(name, base, "missing"), wait=True)
        await same_as_clean("missing")

        # killed after its first chunk of events; the next run continues from the checkpoint
        with monkeypatch.context() as m:
            m.setattr(core, "CHUNK", 100)

            def kill(published: int) -> None:
                raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                await core.run(redis, source_of(name, base, "killed"), on_chunk=kill)
        assert await redis.hlen(keys.import_key("killed", name)) > 1  # some shows got in before
        resumed = await core.run(redis, source_of(name, base, "killed"), wait=True)
        assert resumed.new < clean.shows  # those were not published again
        await same_as_clean("killed")

        # once more: nothing new, nothing published; phish.net asks again for the recent shows only
        requests = len(fake.log)
        again = await core.run(redis, source_of(name, base, "killed"), wait=True)
        assert again.published == 0
        if name == "phishnet":
            assert len(fake.log) - requests < clean.shows
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in logged and not any(SECRET in e for e in errors)


async def test_the_fetcher_keeps_its_rate_and_concurrency() -> None:
    fake = Fake(history())
    with serve(fake) as base:
        fetcher = Fetcher(base + "/api/v2", rate=20, concurrency=2)
        started = time.monotonic()
        await asyncio.gather(*(fetcher.json("shows", params={"page": 1}) for _ in range(11)))
        await fetcher.aclose()
    assert time.monotonic() - started >= 0.45  # 11 requests at 20 a second: 10 intervals
    starts = [t for t, _, _ in fake.log]
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(starts))


async def test_since_imports_only_the_shows_from_that_day(redis: Redis) -> None:
    with serve(Fake(history())) as base:
        source = source_of("phishnet", base, "phish")
        source.since = "1998-07-01"
        summary = await core.run(redis, source)
    dates = {e["date"] for e in history() if e["type"] == "ShowRecorded"}
    assert summary.shows == sum(d >= "1998-07-01" for d in dates) > 0


async def test_phishnet_import_equals_the_history(redis: Redis, service: Queries) -> None:
    events = history()
    with serve(Fake(events)) as base:
        summary = await core.run(redis, source_of("phishnet", base, "phish"), wait=True)
    assert summary.refused == [] and summary.dead_lettered == {}
    ref = Reference([{k: v for k, v in e.items() if k != "slug"} for e in events])  # shows' slugs not served
    await compare_aggregates(service, ref, "phish", "1998-12-31")
    await compare_details(service, ref, "phish", "1998-12-31")


async def test_the_recorded_samples(redis: Redis) -> None:
    """The real answers of each API, as recorded, read into the events their fields say."""
    root = shared_data("api-samples")

    async def drafts(source: Any) -> list[core.Draft]:
        out = []
        async for d in source.drafts(await core.Checkpoint.load(redis, source.name, source.band, True), core.Quiet()):
            assert isinstance(d, core.Draft), d
            _, refused = core.events_of(source.name, source.band, d)
            assert refused == []
            out.append(d)
        await source.aclose()
        return out

    with serve(Samples(root)) as base:
        net = {d.show["show_id"]: d for d in await drafts(source_of("phishnet", base, "phish"))}
        fm = await drafts(source_of("setlistfm", base, "phish"))
        phishin = await drafts(source_of("phishin", base, "phish"))
    fikus = net["1709062035"]
    assert fikus.show["date"] == "2024-08-11" and fikus.show["venue"] == "Bethel Woods Center for the Arts"
    plays = sorted(fikus.plays, key=lambda p: p["position"])
    assert [(p["position"], p["set"], p["song_id"], p["song_title"]) for p in plays] == [
        (4, "1", "197", "Fikus"),
        (5, "s", "jam", "Jam"),  # its soundcheck: "Jam, My Soul"
        (6, "s", "my-soul", "My Soul"),
    ]
    assert plays[0]["transition"] == "," and plays[0]["counts_for_stats"] is True
    assert net["1718730981"].plays == [] and net["1718730981"].show["date"] == "2025-02-01"
    assert len(fm) == 20
    first = fm[0]
    assert (first.show["show_id"], first.show["date"], first.show["venue"]) == (
        "5bb8c7b4",
        "2023-04-23",
        "Hollywood Bowl",
    )
    by_position = sorted(first.plays, key=lambda p: p["position"])
    assert by_position[0]["song_title"] == "Birds of a Feather" and by_position[0]["set"] == "1"
    assert {p["set"] for p in first.plays} == {"1", "2", "e"}
    segue = next(p for p in first.plays if p["song_title"] == "Mr. Completely")
    assert segue["transition"] == ">" and segue["set"] == "2" and segue["song_id"] == "mr-completely"
    [show] = phishin
    assert (show.show["date"], show.show["venue"], len(show.plays)) == ("2024-10-26", "MVP Arena", 19)
    assert [p["set"] for p in sorted(show.plays, key=lambda p: p["position"])] == ["1"] * 9 + ["2"] * 8 + ["e"] * 2
