"""The seed's FastAPI router (``../shared/seed``), loaded from there, on SQLite.

Used by the parity test and by the benchmark as the baseline. Only plays are loaded (the
seed has no notion of what counts), with the seed's own models; ``datetime.now()`` inside
the router is frozen at the query's ``as_of``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from reference import Reference

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed"


def available() -> str | None:
    """None when the seed can run here, else why not."""
    if not SEED.is_dir():
        return f"{SEED} is absent"
    try:
        import fastapi  # noqa: F401
        import sqlmodel  # noqa: F401
    except ImportError as exc:
        return f"the seed needs fastapi and sqlmodel==0.0.27: {exc}"
    return None


def _load() -> ModuleType:
    os.environ.setdefault("SEED_DB", "sqlite://")
    if str(SEED) not in sys.path:
        sys.path.insert(0, str(SEED))
    return importlib.import_module("analytics")


class Seed:
    """One band's plays in a fresh in-memory SQLite, and the router's six endpoints."""

    def __init__(self, ref: Reference, band: str, db_url: str = "sqlite://") -> None:
        from sqlalchemy.pool import StaticPool
        from sqlmodel import Session, SQLModel, create_engine

        self.analytics = _load()
        models = importlib.import_module("models")
        self.engine = create_engine(db_url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
        SQLModel.metadata.create_all(self.engine)
        b = ref.bands[band]
        self.song_ids: dict[int, str] = {}
        with Session(self.engine) as session:
            vertical = models.Vertical(name=b.name or band, slug=band)
            session.add(vertical)
            session.flush()
            songs = {}  # the catalogue: every song with a performance at a recorded show
            for song_id in sorted({p["song_id"] for (show_id, _), p in b.slots.items() if show_id in b.shows}):
                title, slug = b.titles[song_id]
                songs[song_id] = models.Song(title=title, slug=slug, vertical_id=vertical.id)
                session.add(songs[song_id])
            shows = {}
            for show_id in b.order:
                show = b.shows[show_id]
                shows[show_id] = models.Show(
                    date=dt.datetime.fromisoformat(show["date"]), slug=show.get("slug"), vertical_id=vertical.id
                )
                session.add(shows[show_id])
            session.flush()
            for play in b.plays:  # only plays: the seed counts every row
                session.add(
                    models.Performance(
                        show_id=shows[play.show_id].id,
                        song_id=songs[play.song_id].id,
                        position=play.position,
                        set_name=play.set,
                    )
                )
            session.commit()
            self.song_ids = {s.id: song_id for song_id, s in songs.items()}

    def _freeze(self, as_of: str) -> None:
        """``now`` in the router frozen at ``as_of`` 00:00."""
        frozen = dt.datetime.fromisoformat(as_of)

        class FrozenDatetime(dt.datetime):
            @classmethod
            def now(cls, tz: Any = None) -> FrozenDatetime:  # type: ignore[override]
                return cls.fromisoformat(frozen.isoformat())

        self.analytics.datetime = FrozenDatetime

    def http(self) -> httpx.AsyncClient:
        """A client of the router as it was deployed: in a FastAPI app, its session from this
        database, over ASGI (``get`` freezes ``now`` first)."""
        from fastapi import FastAPI
        from sqlmodel import Session

        database = importlib.import_module("database")
        app = FastAPI()
        app.include_router(self.analytics.router)

        def session() -> Iterator[Session]:
            with Session(self.engine) as s:
                yield s

        app.dependency_overrides[database.get_session] = session
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://seed")

    async def get(self, client: httpx.AsyncClient, path: str, as_of: str, **params: Any) -> Any:
        """One of the router's paths over HTTP, ``now`` frozen at ``as_of``; its JSON."""
        self._freeze(as_of)
        response = await client.get(path, params=params)
        assert response.status_code == 200, (path, params, response.text)
        return response.json()

    def call(self, name: str, as_of: str, **params: Any) -> Any:
        """One endpoint, called directly with a session, ``now`` frozen at ``as_of`` 00:00."""
        from sqlmodel import Session

        self._freeze(as_of)
        endpoint = {
            "gaps": self.analytics.get_song_gaps,
            "velocity": self.analytics.get_song_velocity,
            "trends": self.analytics.get_show_trends,
            "stats": self.analytics.get_band_stats,
            "bustouts": self.analytics.get_bustouts,
            "debuts": self.analytics.get_debut_songs,
        }[name]
        with Session(self.engine) as session:
            result = endpoint(session=session, **params)
        return _plain(result)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
