"""HTTP: every query at its path against the reference, the seed router's refusals (404,
422 naming the parameter), ETags, the write-through publish behind its token, health, and
the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import datasets
import httpx
import pytest
from compare import OverHttp, compare_aggregates, compare_details
from conftest import TOKEN, ingest, settings_for_tests, shared_data
from factory import perf, show
from redis.asyncio import Redis
from reference import Reference
from test_requests import BAD, EVENTS

from projections import keys
from projections.contract import QUERIES
from service.app import running
from service.http import http_app


@pytest.mark.slow
@pytest.mark.parametrize("name", ["goose", "phish", "grateful-dead"])
async def test_every_query_over_http_matches_the_reference(name: str, redis: Redis, http: httpx.AsyncClient) -> None:
    shared_data(datasets.FOLDERS[name])
    events = list(datasets.DATASETS[name]())
    settled = await ingest(redis, events)
    assert (settled.applied, settled.dead) == (len(events), 0)
    ref = Reference(events)
    dates = sorted({e["date"] for e in events if e["type"] == "ShowRecorded"})
    for as_of in (dates[len(dates) // 2], dates[-1]):
        await compare_aggregates(OverHttp(http), ref, name, as_of)
    await compare_details(OverHttp(http), ref, name, dates[-1])


def _path(query: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A query's URL path and its query-string parameters."""
    spec = QUERIES[query]
    rest = {k: v for k, v in params.items() if f"{{{k}}}" not in spec.path}
    in_path = {k: quote(str(v), safe="") for k, v in params.items() if k not in rest}
    return "/analytics/" + spec.path.format(**in_path), rest


def _over_http(value: Any) -> bool:
    """Whether a bad value of the request/reply tests is bad in a URL too: there every value
    is text (a number written as text is a number), and a path's parts cannot be left out."""
    return isinstance(value, str | int | float) and not isinstance(value, bool) and not str(value).isdigit()


@pytest.mark.parametrize(
    ("query", "params", "parameter", "allowed"), [b for b in BAD if b[2] in b[1] and _over_http(b[1][b[2]])]
)
async def test_bad_parameters_are_refused_with_422_naming_them(
    redis: Redis, http: httpx.AsyncClient, query: str, params: dict[str, Any], parameter: str, allowed: str
) -> None:
    params = {"band": "band", "song_id": "a", "show_id": "s1", **params}
    path, rest = _path(query, params)
    if parameter == "colour":  # FastAPI ignores unknown query parameters, and so do we
        response = await http.get(path, params=rest)
        assert response.status_code == 404 and response.json() == {"detail": "Band not found"}
        return
    response = await http.get(path, params=rest)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] == parameter and problem["type"] == "invalid_parameter"
    assert parameter in problem["msg"] and (allowed in problem["msg"] or "required" in allowed), problem


async def test_not_found_as_the_seed_said_it(redis: Redis, http: httpx.AsyncClient) -> None:
    await ingest(redis, EVENTS)
    for path, detail in [
        ("/analytics/gaps/nope", "Band not found"),
        ("/analytics/debut-songs/nope", "Band not found"),
        ("/analytics/songs/band/zz", "Song not found"),
        ("/analytics/setlists/band/zz", "Show not found"),
    ]:
        response = await http.get(path)
        assert (response.status_code, response.json()) == (404, {"detail": detail}), path
    assert (await http.get("/analytics/nothing/band")).status_code == 404


async def test_etag_and_if_none_match(redis: Redis, http: httpx.AsyncClient) -> None:
    await ingest(redis, EVENTS)
    url = "/analytics/gaps/band?min_plays=1&as_of=2001-03-01"
    first = await http.get(url)
    etag = first.headers["etag"]
    assert first.status_code == 200 and first.headers["cache-control"].startswith("public, max-age=0")
    again = await http.get(url, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    other_day = await http.get("/analytics/gaps/band?min_plays=1&as_of=2001-03-02")
    assert other_day.headers["etag"] != etag
    await ingest(redis, [perf("s2", 2, "b")])  # the band changes: so does the version
    changed = await http.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert {row["song_id"] for row in changed.json()} == {"a", "b"}
    for path in ("/analytics/bands", "/analytics/setlists/band/s2"):
        tagged = await http.get(path)
        assert (await http.get(path, headers={"If-None-Match": tagged.headers["etag"]})).status_code == 304


async def test_post_events_needs_the_token_and_writes_through(redis: Redis, http: httpx.AsyncClient) -> None:
    event = show("s9", "2002-01-01", band_name="Band")
    assert (await http.post("/events", json=event)).status_code == 401
    wrong = await http.post("/events", json=event, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    written = await http.post("/events", json=event, headers=auth)
    assert written.status_code == 200 and written.json()["applied"] is True, written.text
    assert (await http.get("/analytics/stats/band")).json()["total_shows"] == 1  # applied before the reply
    # an array with one invalid event: refused whole, nothing appended
    length = await redis.xlen(keys.EVENTS_STREAM)
    batch = [perf("s9", 1, "a"), {**perf("s9", 2, "b"), "position": 0}]
    refused = await http.post("/events", json=batch, headers=auth)
    assert refused.status_code == 422 and "position" in json.dumps(refused.json()), refused.text
    assert await redis.xlen(keys.EVENTS_STREAM) == length
    written = await http.post("/events", json=[*batch[:1], perf("s9", 2, "b")], headers=auth)
    assert [r["applied"] for r in written.json()] == [True, True]
    assert (await http.get("/analytics/setlists/band/s9")).json()["performances"][1]["song_id"] == "b"


async def test_post_events_without_a_configured_token_is_unavailable(redis: Redis, redis_url: str) -> None:
    async with running(settings_for_tests(), redis_url) as app:
        asgi = http_app(app.context.get("service"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://t") as client:
            response = await client.post(
                "/events", json=show("s1", "2001-01-01"), headers={"Authorization": "Bearer x"}
            )
    assert response.status_code == 503 and "API_TOKEN" in response.text
    assert await redis.xlen(keys.EVENTS_STREAM) == 0


async def test_health_readiness_and_the_documents(redis: Redis, http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["lag"] == 0
    await redis.xgroup_destroy(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)
    assert (await http.get("/readyz")).status_code == 503
    document = (await http.get("/openapi.json")).json()
    paths = document["paths"]
    for query in QUERIES.values():
        path = "/analytics/" + query.path
        assert path in paths, path
        operation = paths[path]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert names == {f.name for f in query.fields()}, path
        assert "200" in operation["responses"] and "422" in operation["responses"]
    limit = next(p for p in paths["/analytics/gaps/{band}"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["in"]) == (1, 200, "query")
    assert "/events" in paths and "/healthz" in paths and "/readyz" in paths
    docs = await http.get("/docs")
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text and "/analytics/gaps/{band}" in docs.text
