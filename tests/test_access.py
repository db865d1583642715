"""REDIS_URL with a password, an ACL user and TLS, for the consumer, the queries, the CLI and
the client; no credential is ever logged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
from conftest import settings_for_tests
from factory import perf, show
from redis.asyncio import Redis

from projections import keys
from projections.contract import QueryError
from service.app import running
from service.client import StatsClient
from service.config import redacted
from service.embedded import RedisServer, redis_server_binary
from service.ingest import publish, wait_settled

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cret-Pa55word"
ACL_PASSWORD = "alice-Pa55word"
EVENTS = [show("s1", "2001-01-01"), perf("s1", 1, "a"), show("s2", "2001-02-01"), perf("s2", 1, "a")]


def cli(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def serve(url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REDIS_URL": url, "CONSUMER_NAME": "access", "LOG_LEVEL": "DEBUG"}
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


async def exercise(url: str, tmp_path: Path, secrets: list[str]) -> None:
    """serve, ingest --wait and query through the CLI, the client; then read the logs."""
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        await _exercise(url, out)
    text = log.read_text(errors="replace")
    assert "consuming" in text  # the log was written, and at DEBUG
    for secret in secrets:
        assert secret not in text


async def _exercise(url: str, out: IO[bytes]) -> None:
    process = serve(url, out)
    try:
        result = cli(url, "ingest", "-", "--wait", stdin="\n".join(json.dumps(e) for e in EVENTS))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["applied"] == len(EVENTS)
        result = cli(url, "query", "song", "--band", "band", "--song-id", "a", "--as-of", "2002-01-01")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["plays"][1]["gap_shows"] == 1
        async with StatsClient(url, timeout=10) as client:
            assert (await client.stats("band", as_of="2002-01-01")).total_performances == 2
        redis = Redis.from_url(url)
        ids = await publish(redis, [json.dumps(show("s3", "2001-03-01")), "{bad"])
        assert (await wait_settled(redis, ids, timeout=30)).dead == 1
        await redis.aclose()
        for secret in (PASSWORD, ACL_PASSWORD):
            assert secret not in result.stderr
    finally:
        process.terminate()
        process.wait(30)


def test_redacted_urls() -> None:
    assert redacted(f"redis://:{PASSWORD}@host:6379/0") == "redis://***@host:6379/0"
    assert (
        redacted(f"rediss://alice:{ACL_PASSWORD}@host/0?ssl_cert_reqs=required")
        == "rediss://***@host/0?ssl_cert_reqs=required"
    )
    assert redacted("redis://host:6379") == "redis://host:6379"


async def test_password_and_acl_user(tmp_path: Path) -> None:
    acl = tmp_path / "users.acl"
    acl.write_text(f"user default on >{PASSWORD} ~* &* +@all\nuser alice on >{ACL_PASSWORD} ~* &* +@all\n")
    server = RedisServer(tmp_path / "redis", extra_args=["--aclfile", str(acl)])
    server.start()
    try:
        anonymous = Redis.from_url(server.url)
        with pytest.raises(Exception, match=r"(?i)auth|NOAUTH"):
            await anonymous.ping()
        await anonymous.aclose()
        port = server.port
        await exercise(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", tmp_path, [PASSWORD])
        await exercise(f"redis://alice:{ACL_PASSWORD}@127.0.0.1:{port}/1", tmp_path, [ACL_PASSWORD])
    finally:
        server.stop()


def _tls_files(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {name: directory / name for name in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=setlist-stats test CA",
        "-keyout",
        str(files["ca.key"]),
        "-out",
        str(files["ca.crt"]),
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(files["server.key"]),
        "-out",
        str(files["server.csr"]),
    )
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        str(files["server.csr"]),
        "-CA",
        str(files["ca.crt"]),
        "-CAkey",
        str(files["ca.key"]),
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        str(files["server.crt"]),
        "-extfile",
        str(ext),
    )
    return files


async def test_tls(tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("no openssl command to make a test certificate")
    probe = subprocess.run(
        [redis_server_binary(), "--tls-port", "0", "--port", "0", "--test-memory", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if "tls" in (probe.stdout + probe.stderr).lower() and "not" in (probe.stdout + probe.stderr).lower():
        pytest.skip("this redis-server is built without TLS")
    files = _tls_files(tmp_path / "tls")
    server = RedisServer(
        tmp_path / "redis",
        scheme="rediss",
        extra_args=[
            "--tls-cert-file",
            str(files["server.crt"]),
            "--tls-key-file",
            str(files["server.key"]),
            "--tls-ca-cert-file",
            str(files["ca.crt"]),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            PASSWORD,
        ],
    )
    server.start()
    try:
        time.sleep(0.2)
        url = f"rediss://:{PASSWORD}@127.0.0.1:{server.port}/0?ssl_cert_reqs=required&ssl_ca_certs={files['ca.crt']}"
        await exercise(url, tmp_path, [PASSWORD])
    finally:
        server.stop()


async def test_two_deployments_on_one_redis_never_see_each_other(redis_url: str) -> None:
    """Databases 1 and 2 of one server, a deployment on each: questions, answers,
    write-throughs and announcements stay within their own (pub/sub ignores the database)."""
    base = redis_url.rsplit("/", 1)[0]
    one, two = f"{base}/1", f"{base}/2"
    clients = [Redis.from_url(one), Redis.from_url(two)]
    for client in clients:
        await client.flushdb()
    async with (
        running(settings_for_tests(consumer="one"), one),
        running(settings_for_tests(consumer="two"), two),
        StatsClient(one, timeout=10) as a,
        StatsClient(two, timeout=10) as b,
    ):
        await a.publish(show("s1", "2001-01-01", band="only-in-one"))
        await b.publish(show("s1", "2001-01-01", band="only-in-two"))
        for _ in range(20):  # whichever handler hears a question first: only its own may
            assert (await a.query("stats", band="only-in-one"))["total_shows"] == 1
            with pytest.raises(QueryError, match="Band not found"):
                await b.query("stats", band="only-in-one")
            with pytest.raises(QueryError, match="Band not found"):
                await a.query("stats", band="only-in-two")
        assert [x["band"] for x in await a.query("bands")] == ["only-in-one"]
        assert [x["band"] for x in await b.query("bands")] == ["only-in-two"]
    for client in clients:  # each write-through appended once, in its own database
        assert await client.xlen(keys.EVENTS_STREAM) == 1
        await client.aclose()
