"""The setlist-stats command as a user runs it: serve, ingest --wait, query, demo."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import free_port, wait_ready
from factory import perf, show
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from projections.contract import QUERIES
from projections.events import EVENT_TYPES

CLI = [sys.executable, "-m", "service.cli"]
ROOT = Path(__file__).resolve().parents[1]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**base, **extra}


def run(*args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env(**extra)
    )


@pytest.fixture
def served(redis: Redis, redis_url: str, tmp_path: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [*CLI, "serve"],
        cwd=ROOT,
        env=env(REDIS_URL=redis_url, CONSUMER_NAME="cli-test"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield redis_url
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "secret" not in output


def test_ingest_wait_and_query(served: str, tmp_path: Path) -> None:
    events = [
        show("s1", "2001-01-01", band_name="Band"),
        perf("s1", 1, "a"),
        perf("s1", 2, "b"),
        show("s2", "2001-02-01"),
        perf("s2", 1, "a"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events[:3]) + "\n{not json\n")
    result = run(
        "ingest", str(path), "-", "--wait", stdin="\n".join(json.dumps(e) for e in events[3:]), REDIS_URL=served
    )
    assert result.returncode == 1, result.stderr  # something was refused
    assert json.loads(result.stdout) == {"published": 6, "applied": 5, "dead_lettered": 1}
    assert f"dead-lettered {path} line 4 (entry " in result.stderr and "not valid JSON" in result.stderr

    result = run("query", "gaps", "--band", "band", "--as-of", "2001-03-01", "--min-plays", "1", REDIS_URL=served)
    assert result.returncode == 0, result.stderr
    assert [(g["song_id"], g["shows_since_played"]) for g in json.loads(result.stdout)] == [("b", 1), ("a", 0)]
    result = run("query", "song", "--band", "band", "--song-id", "a", "--as-of", "2001-03-01", REDIS_URL=served)
    assert json.loads(result.stdout)["plays"][1]["gap_shows"] == 1

    result = run("query", "gaps", "--band", "band", "--limit", "500", REDIS_URL=served)
    assert result.returncode == 2 and result.stdout == ""
    assert "limit must be an integer from 1 to 200, got 500" in result.stderr
    result = run("query", "stats", "--band", "nobody", REDIS_URL=served)
    assert result.returncode == 2 and "Band not found" in result.stderr


def test_ingest_live_applies_each_event_before_the_next(served: str, tmp_path: Path) -> None:
    events = [show("s1", "2001-01-01"), perf("s1", 1, "a"), perf("s1", 0, "b"), perf("s1", 2, "b")]
    path = tmp_path / "tonight.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n{not json\n")
    result = run("ingest", "--live", str(path), REDIS_URL=served)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {"published": 3, "applied": 3, "refused": 2}
    assert f"refused {path} line 3: Expected `int` >= 1 - at `$.position`" in result.stderr
    assert f"refused {path} line 5: not valid JSON" in result.stderr
    result = run("query", "setlist", "--band", "band", "--show-id", "s1", REDIS_URL=served)
    assert [p["song_id"] for p in json.loads(result.stdout)["performances"]] == ["a", "b"]


def test_dlq_list_and_replay(served: str, tmp_path: Path) -> None:
    result = run(
        "ingest",
        "-",
        "--wait",
        stdin='{"type": "ShowRecorded"}\n' + json.dumps(show("s1", "2001-01-01")),
        REDIS_URL=served,
    )
    assert json.loads(result.stdout) == {"published": 2, "applied": 1, "dead_lettered": 1}
    assert result.returncode == 1 and "dead-lettered stdin line 1 (entry " in result.stderr
    listed = [json.loads(line) for line in run("dlq", "list", REDIS_URL=served).stdout.splitlines()]
    assert len(listed) == 1 and listed[0]["raw"] == '{"type": "ShowRecorded"}'
    assert "missing required field" in listed[0]["reason"]
    assert run("dlq", "replay", REDIS_URL=served).returncode == 2  # neither ids nor --all
    assert "not in the dead-letter stream: 1-1" in run("dlq", "replay", "1-1", REDIS_URL=served).stderr
    result = run("dlq", "replay", listed[0]["id"], REDIS_URL=served)
    # still invalid: it fails again, says so, and is parked anew
    assert json.loads(result.stdout) == {"replayed": 1, "applied": 0, "failed_again": 1}
    assert result.returncode == 1 and "failed again" in result.stderr and "missing required field" in result.stderr
    again = [json.loads(line) for line in run("dlq", "list", REDIS_URL=served).stdout.splitlines()]
    assert len(again) == 1 and again[0]["id"] != listed[0]["id"]
    # dropped for good
    assert run("dlq", "drop", REDIS_URL=served).returncode == 2
    assert "not in the dead-letter stream: 1-1" in run("dlq", "drop", "1-1", REDIS_URL=served).stderr
    assert json.loads(run("dlq", "drop", again[0]["id"], REDIS_URL=served).stdout) == {"dropped": 1}
    empty = run("dlq", "list", REDIS_URL=served)
    assert empty.stdout == "" and "the dead-letter stream is empty" in empty.stderr


def test_ingest_of_a_missing_file_fails_clearly(redis_url: str) -> None:
    result = run("ingest", "/nonexistent/events.jsonl", REDIS_URL=redis_url)
    assert result.returncode != 0 and "cannot read /nonexistent/events.jsonl" in result.stderr


def test_demo_writes_a_history_and_a_show_of_tonight(tmp_path: Path) -> None:
    history, tonight = tmp_path / "history.jsonl", tmp_path / "tonight.jsonl"
    result = run("demo", "--write", str(history), "--tonight", str(tonight))
    assert result.returncode == 0, result.stderr
    show_, *plays = [json.loads(line) for line in tonight.read_text().splitlines()]
    assert show_["type"] == "ShowRecorded" and show_["date"] == dt.datetime.now(dt.UTC).date().isoformat()
    played = {e["song_id"] for e in map(json.loads, history.read_text().splitlines()) if e.get("song_id")}
    assert [p["song_id"] in played for p in plays] == [True, False, True]  # common, a debut, overdue


def test_demo_on_an_embedded_redis(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run("demo", SETLIST_STATS_HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr
    for heading in ("Overdue, in days", "Overdue, in shows", "Hot right now", "Bustouts", "Debuts"):
        assert result.stdout.count(heading) == 2
    assert "embedded redis-server" in result.stderr and "0 dead-lettered" in result.stderr
    assert time.monotonic() - started < 240


def test_demo_write_gives_valid_events(tmp_path: Path) -> None:
    from projections.events import decode_event

    path = tmp_path / "demo.jsonl"
    assert run("demo", "--write", str(path)).returncode == 0
    lines = path.read_text().splitlines()
    assert len(lines) > 10_000
    assert all(decode_event(line) for line in lines)


def test_serve_role_and_nice(redis: Redis, redis_url: str) -> None:
    result = run("serve", "--role", "everything", REDIS_URL=redis_url)
    assert result.returncode == 2 and "invalid choice: 'everything'" in result.stderr
    result = run("serve", SERVE_ROLE="everything", REDIS_URL=redis_url)
    assert result.returncode == 1 and "SERVE_ROLE: input should be 'all', 'consumer' or 'handlers'" in result.stderr
    result = run("serve", "--role", "consumer", "--http", "127.0.0.1:1", REDIS_URL=redis_url)
    assert result.returncode == 1 and "--http needs --role all or handlers" in result.stderr
    result = run("serve", HTTP_ADDR="localhost", REDIS_URL=redis_url)
    assert result.returncode == 1 and "HTTP_ADDR: must be HOST:PORT" in result.stderr
    result = run("serve", QUERY_WORKERS="0", REDIS_URL=redis_url)
    assert (
        result.returncode == 1 and "QUERY_WORKERS: input should be greater than or equal to 1, got '0'" in result.stderr
    )
    process = subprocess.Popen(
        [*CLI, "serve", "--role", "consumer"],
        cwd=ROOT,
        env=env(REDIS_URL=redis_url, NICE="5", CONSUMER_NAME="nice-test"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with SyncRedis.from_url(redis_url) as client:  # running: it applies an event
            client.xadd("ss:events", {"__data__": json.dumps(show("s1", "2001-01-01", band="nice"))})
            deadline = time.monotonic() + 60
            while not client.sismember("ss:bands", "nice") and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.sismember("ss:bands", "nice")
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 5
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "consuming ss:events" in errors


def test_serve_http_as_a_user_would(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """``serve --http``: the seed's paths answered, a write refused without the token and
    taken with it, and a clean exit on SIGTERM."""
    base = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [*CLI, "serve", "--http", base.removeprefix("http://")],
        cwd=ROOT,
        env=env(REDIS_URL=redis_url, API_TOKEN="tok", CONSUMER_NAME="http-test"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(base)
        path = tmp_path / "events.jsonl"
        events = [show("s1", "2001-01-01", band_name="Band"), perf("s1", 1, "a"), show("s2", "2001-02-01")]
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        assert run("ingest", str(path), "--wait", REDIS_URL=redis_url).returncode == 0
        gaps = httpx.get(f"{base}/analytics/gaps/band", params={"min_plays": 1, "as_of": "2001-03-01"})
        assert [(g["song_id"], g["shows_since_played"]) for g in gaps.json()] == [("a", 1)]
        assert httpx.get(f"{base}/analytics/stats/nobody").json() == {"detail": "Band not found"}
        assert httpx.get(f"{base}/analytics/gaps/band", params={"limit": 0}).status_code == 422
        event = perf("s2", 1, "a")
        assert httpx.post(f"{base}/events", json=event).status_code == 401
        written = httpx.post(f"{base}/events", json=event, headers={"Authorization": "Bearer tok"})
        assert written.json()["applied"] is True
        song = httpx.get(f"{base}/analytics/songs/band/a", params={"as_of": "2001-03-01"}).json()
        assert [p["show_id"] for p in song["plays"]] == ["s1", "s2"]
        assert "/analytics/debut-songs/{band}" in httpx.get(f"{base}/openapi.json").json()["paths"]
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "answering HTTP on " + base in errors and "Traceback" not in errors


def test_query_help_comes_from_the_contract() -> None:
    result = run("query", "gaps", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for fragment in (
        "--band BAND a band slug",
        "(required)",
        "--min-plays N songs with at least this many plays: an integer >= 0 (default 5)",
        "--limit N rows at most: an integer from 1 to 200 (default 50)",
        "--sort {days,shows}",
        "--as-of YYYY-MM-DD",
    ):
        assert fragment in text, fragment
    listed = run("query", "--help").stdout
    assert all(name in listed for name in QUERIES)
    refused = run("query", "song", "--band", "b")
    assert refused.returncode == 2 and "--song-id" in refused.stderr


def test_docs_asyncapi_shows_every_channel_and_schema(tmp_path: Path) -> None:
    result = run("docs", "asyncapi")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    channels, schemas = document["channels"], document["components"]["schemas"]
    addresses = {c["address"] for c in channels.values()}
    for name, query in QUERIES.items():
        subject = f"setlist-stats.query.{name}"
        assert subject in addresses
        parameters = schemas[f"{subject}:Message:Payload"]
        assert set(parameters["properties"]) == {f.name for f in query.fields()}, name
        reply = schemas[f"{subject}:reply:Message:Payload"]
        assert set(reply["properties"]) == {"ok", "result", "error"}, name
    limit = schemas["setlist-stats.query.gaps:Message:Payload"]["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 200, 50)
    rows = schemas["setlist-stats.query.gaps:reply:Message:Payload"]["properties"]["result"]["anyOf"][0]
    assert "days_since_played" in rows["items"]["properties"]
    events = schemas["ss:events:Message:Payload"]["anyOf"]
    assert {e["properties"]["type"]["enum"][0] for e in events} == set(EVENT_TYPES)
    assert "setlist-stats.publish" in addresses and "ss:events" in addresses
    assert run("docs", "asyncapi", "--format", "yaml", "--out", str(tmp_path / "a.yaml")).returncode == 0
    assert yaml.safe_load((tmp_path / "a.yaml").read_text())["info"]["title"] == "setlist-stats"


def test_import_csv_reports_and_refuses_by_line(served: str, tmp_path: Path) -> None:
    path = tmp_path / "plays.csv"
    path.write_text(
        "date,venue,set,song\n"
        "2024-12-31,Madison Square Garden,Set 1,Señor Mouse\n"
        "2024-12-31,Madison Square Garden,Set 1,Tweezer\n"
        "2024-12-31,Madison Square Garden,Encroe,Tweezer Reprise\n"
        "31/12/2024,Madison Square Garden,Set 1,Oops\n",
        encoding="utf-8",
    )
    flags = ["--band", "tour", "--band-name", "Tour", "--date-column", "date", "--song-column", "song"]
    flags += ["--venue-column", "venue", "--set-column", "set", "--set-map", "Set 1=1"]
    dry = run("import", "csv", str(path), *flags, "--dry-run", REDIS_URL=served)
    assert dry.returncode == 1 and json.loads(dry.stdout)["dry_run"] is True
    assert (
        "refused line 4: set 'Encroe' is not a set" in dry.stderr and "refused line 5: date '31/12/2024'" in dry.stderr
    )
    result = run("import", "csv", str(path), *flags, "--set-map", "Encroe=e", "--wait", REDIS_URL=served)
    summary = json.loads(result.stdout)
    assert (summary["shows"], summary["plays"], summary["refused"], summary["dead_lettered"]) == (1, 3, 1, 0)
    answer = run(
        "query", "setlist", "--band", "tour", "--show-id", "2024-12-31 Madison Square Garden", REDIS_URL=served
    )
    plays = json.loads(answer.stdout)["performances"]
    assert [(p["song_id"], p["set"]) for p in plays] == [
        ("señor-mouse", "1"),
        ("tweezer", "1"),
        ("tweezer-reprise", "e"),
    ]
    again = run("import", "csv", str(path), *flags, "--set-map", "Encroe=e", REDIS_URL=served)
    assert json.loads(again.stdout)["published"] == 0
    missing = run("import", "csv", str(path), *flags[:-4], "--set-column", "Set", REDIS_URL=served)
    assert missing.returncode == 1 and "has no column 'Set'" in missing.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["query", "stats", "--band", "b"],
        ["ingest", "-", "--wait"],
        ["dlq", "list"],
        ["highlights"],
        ["rebuild"],
    ],
    ids=lambda c: c[0],
)
def test_redis_unreachable_is_one_clear_line(command: list[str]) -> None:
    port = free_port()  # nothing listens there
    result = run(
        *command, stdin=json.dumps(show("s1", "2001-01-01")), REDIS_URL=f"redis://user:hunter2@127.0.0.1:{port}/0"
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach Redis at redis://***@127.0.0.1:{port}/0: "), line


def test_query_into_a_closed_pipe_ends_quietly(served: str) -> None:
    events = [show("s0", "2000-01-01")] + [
        e for i in range(1, 1500) for e in (show(f"s{i}", "2001-01-01", show_order=i), perf(f"s{i}", 1, "a"))
    ]
    run("ingest", "-", "--wait", stdin="\n".join(json.dumps(e) for e in events), REDIS_URL=served)
    query = subprocess.Popen(
        [*CLI, "query", "song", "--band", "band", "--song-id", "a"],
        cwd=ROOT,
        env=env(REDIS_URL=served),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert query.stdout is not None
    query.stdout.readline()
    query.stdout.close()  # as `| head -1` does
    _, errors = query.communicate(timeout=60)
    assert b"Traceback" not in errors and b"BrokenPipe" not in errors, errors


def test_ingest_live_with_no_serve_says_why_and_never_appends_later(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "tonight.jsonl"
    path.write_text(json.dumps(show("s1", "2001-01-01")) + "\n")
    result = run("ingest", "--live", str(path), "--timeout", "1", REDIS_URL=redis_url)
    assert result.returncode == 1
    assert f"{path} line 1 got no answer within 1.0 s: is `setlist-stats serve` running" in result.stderr
    process = subprocess.Popen([*CLI, "serve"], cwd=ROOT, env=env(REDIS_URL=redis_url, CONSUMER_NAME="late"))
    try:  # a serve started later takes the request left in the list, and drops it
        deadline = time.monotonic() + 30
        while SyncRedis.from_url(redis_url).llen("setlist-stats.publish") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert SyncRedis.from_url(redis_url).xlen("ss:events") == 0
    finally:
        process.terminate()
        process.wait(30)


def test_serve_logs_its_work_at_info_and_is_quiet_when_idle(redis: Redis, redis_url: str) -> None:
    process = subprocess.Popen(
        [*CLI, "serve"],
        cwd=ROOT,
        env=env(REDIS_URL=redis_url, CONSUMER_NAME="logs", LOG_INTERVAL="1"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.5)  # idle: nothing to report
        events = [json.dumps(show("s1", "2001-01-01")), json.dumps(perf("s1", 1, "a")), "{broken"]
        result = run("ingest", "-", "--wait", stdin="\n".join(events), REDIS_URL=redis_url)
        assert json.loads(result.stdout)["dead_lettered"] == 1
        time.sleep(1.5)
    finally:
        process.terminate()
        _, output = process.communicate(timeout=30)
    assert "being executed" not in output and "INFO setlist-stats.broker" not in output  # FastStream's own: quiet
    reports = [line for line in output.splitlines() if "applied" in line and "dead-lettered" in line]
    assert len(reports) == 1, output  # one interval had work, the idle ones said nothing
    assert re.search(
        r"INFO setlist-stats: applied 2 events in \d+ batches \(\d+/s\), dead-lettered 1; lag 0", reports[0]
    )
