"""Serving HTTP: uvicorn with the FastStream app started for as long (``serve --http``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from faststream import FastStream
from litestar import Litestar

from .app import started
from .config import Settings, http_address
from .http import http_app

log = logging.getLogger("setlist-stats.http")


def _server(config: Any, on_exit: Callable[[], Coroutine[Any, Any, None]]) -> Any:
    """uvicorn's server, stopping on SIGINT or SIGTERM as ``serve`` does without HTTP (a
    clean exit, status 0), where uvicorn's own would raise the signal again once stopped.
    ``on_exit`` runs at the signal: it ends the open event streams (GET /live), which uvicorn
    would otherwise wait for before it stops."""
    import uvicorn

    class Server(uvicorn.Server):
        def stop(self, sig: int, frame: Any) -> None:
            self.handle_exit(sig, frame)
            self._ending: asyncio.Task[None] = asyncio.get_running_loop().create_task(on_exit())

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop, sig, None)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    return Server(config)


async def serve_http(app: FastStream, settings: Settings) -> None:
    """Serve HTTP (uvicorn) on ``settings.http_addr`` with ``app`` (the FastStream app, whose
    ``Service`` answers) started for as long: until SIGINT or SIGTERM."""
    import uvicorn

    assert settings.http_addr
    host, port = http_address(settings.http_addr)
    service = app.context.get("service")

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with started(app):
            log.info("setlist-stats answering HTTP on http://%s:%d", host, port)
            yield

    asgi = http_app(service, lifespan=[lifespan])
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        proxy_headers=False,  # the client's address is not used
        server_header=False,
        timeout_graceful_shutdown=settings.http_grace,  # then a request still under way is cut off
    )

    async def end_streams() -> None:
        if service.fanout is not None:
            await service.fanout.close()

    await _server(config, end_streams).serve()
