"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): Goose's history
loaded, the page shows the reference's rows, draws its charts, opens a song's history on a
click, and a show played live through the write-through appears in the ticker within a
second; no console errors. Screenshots (desktop and phone widths) go to test-artifacts/."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import httpx
import pytest
from conftest import TOKEN, ingest, serving_http, shared_data
from factory import perf, show
from redis.asyncio import Redis
from reference import Reference

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TODAY = "2025-07-26"  # the day after Goose's last show in the history

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture
def site(redis: Redis, redis_url: str) -> Iterator[str]:
    with serving_http(redis_url, CONSUMER_NAME="dashboard", HIGHLIGHT_TODAY=TODAY) as (base, _):
        yield base


async def test_the_page_in_chromium(redis: Redis, site: str) -> None:
    from playwright.async_api import async_playwright

    shared_data("goose")
    events = list(datasets.goose())
    await ingest(redis, events)
    ref = Reference(events)
    now = dt.datetime.now(dt.UTC).date().isoformat()  # the page's as_of: today
    overdue = [r["song_title"] for r in ref.gaps("goose", now, limit=15, sort="shows")]
    hot = [r["song_title"] for r in ref.velocity("goose", now, limit=15)]
    most_overdue = ref.gaps("goose", TODAY, limit=1, sort="shows")[0]
    last_day = "2025-06-29"  # Goose's last show with a setlist
    debuts = [r["song_title"] for r in ref.debuts("goose", last_day, 365)["debuts"]]
    bustouts = [r["song_title"] for r in ref.bustouts("goose", last_day, 365, None, "days")["bustouts"]]
    overdue_then = [r["song_title"] for r in ref.gaps("goose", last_day, limit=15, sort="shows")]
    assert debuts and bustouts
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{site}/?band=goose")
            await page.wait_for_selector("body[data-ready='1']", timeout=15000)
            assert await cells(page, "#overdue tbody tr td:first-child") == overdue
            assert await cells(page, "#hot tbody tr td:first-child") == hot
            assert await page.locator("#trends-chart svg rect").count() > 5  # the chart is drawn
            # as of the last show's day: that year's bustouts and debuts, as the reference has them
            await page.fill("#as-of", last_day)
            await page.dispatch_event("#as-of", "change")
            await page.wait_for_function(
                f"document.querySelectorAll('#debuts tbody tr').length === {min(len(debuts), 12)}"
                " && !document.querySelector('#debuts tbody td.muted')"
            )
            assert await cells(page, "#debuts tbody tr td:first-child") == debuts[:12]
            assert await cells(page, "#bustouts tbody tr td:first-child") == bustouts[:12]
            assert await cells(page, "#overdue tbody tr td:first-child") == overdue_then
            await page.fill("#as-of", "")
            await page.dispatch_event("#as-of", "change")
            await page.wait_for_function(f"document.querySelector('#overdue tbody td').textContent === {overdue[0]!r}")
            await page.select_option("#period", "month")
            await page.wait_for_function("document.querySelectorAll('#trends-chart svg rect').length > 40")
            # a song's history on a click
            await page.locator("#overdue tbody tr").first.click()
            await page.wait_for_selector("#song-card:not([hidden]) #song-chart svg circle")
            assert await page.text_content("#song-title") == overdue[0]
            await page.screenshot(path=str(ARTIFACTS / "dashboard-desktop.png"), full_page=True)

            # a show played live, event by event (each sent twice): the ticker within a second
            await page.wait_for_selector("#live-state.on")
            live = [
                show("live", TODAY, band="goose", venue="The Live Venue"),
                perf("live", 1, "a-brand-new-song", band="goose", title="A Brand New Song"),
                perf("live", 2, most_overdue["song_id"], band="goose", title=most_overdue["song_title"]),
            ]
            async with httpx.AsyncClient(base_url=site) as client:
                for event in live:
                    sent = time.perf_counter()
                    response = await client.post(
                        "/events", json=[event, event], headers={"Authorization": f"Bearer {TOKEN}"}
                    )
                    assert response.status_code == 200
                    if event["type"] == "PerformanceAdded":
                        n = event["position"]
                        await page.wait_for_function(
                            f"document.querySelectorAll('#highlights li:not(.empty)').length >= {n}", timeout=1000
                        )
                        assert time.perf_counter() - sent < 1.0
            ticker = await cells(page, "#highlights li")
            assert len(ticker) == 2, ticker
            title, gap = most_overdue["song_title"], most_overdue["shows_since_played"] + 1
            assert f"Bustout! First {title} in {gap} shows" in ticker[0], ticker
            assert "Debut! A Brand New Song" in ticker[1]
            await page.wait_for_function("document.querySelector('#show-name').textContent.includes('The Live Venue')")
            assert "A Brand New Song" in "".join(await cells(page, "#setlist tbody td"))
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=False)

            phone = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            phone.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            await phone.goto(f"{site}/?band=goose")
            await phone.wait_for_selector("body[data-ready='1']", timeout=15000)
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page is {width} px wide on a phone"
            await phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        finally:
            await browser.close()
    assert problems == []


async def cells(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in await page.locator(selector).all_text_contents()]
