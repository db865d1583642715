"""The nine queries answered: checked parameters in (``contract.parse``), the contract's JSON
answer out (shaped by ``answers``), from a cache wherever nothing the answer depends on changed.

Answers are cached (encoded) under the band's change stamp, which every apply that changes
the band bumps atomically with the change: a cached answer is served only while nothing it
depends on has changed. After a live change, ``refresh`` answers the band's recently asked
questions again, so that the next asker finds them ready.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any

import msgspec
from cachetools import LRUCache
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster

from . import keys
from .answers import answer as answer_of
from .answers import band_name, date_of, summary
from .contract import BandParams, BandRow, BandsParams, Params, QueryError, parse
from .scripts import Scripts
from .values import number, text

_json = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
#: Questions per band that ``Queries.refresh`` answers again after a live change: the ones
#: answered most recently.
REFRESHED_PER_BAND = 32
#: Set by ``Queries._answer_with_probe``: where ``Queries._read`` keeps the probe's replies.
_PROBE: ContextVar[list[Any] | None] = ContextVar("probe", default=None)


def _version(key: tuple[int, tuple[tuple[str, bytes], ...], Params[Any]]) -> str:
    """An answer's version, from its cache key: the generation, the stamps of the bands it
    depends on (a digest of them for ``bands``) and the day it is answered as of."""
    generation, stamps, question = key
    if len(stamps) == 1:
        state = stamps[0][1].decode()
    else:
        state = hashlib.blake2b(b" ".join(b"%s=%s" % (b.encode(), s) for b, s in stamps), digest_size=8).hexdigest()
    return f"{generation}.{state}.{question.as_of}"


class Queries:
    """Answers queries from the projections of one Redis."""

    def __init__(self, scripts: Scripts, cache_size: int = 4096) -> None:
        self.scripts = scripts
        self.redis = scripts.redis
        self._cluster = isinstance(scripts.redis, RedisCluster)  # keys of several bands: no MGET
        # answers with their version, the least recently used let go first
        self._cache: LRUCache[Any, tuple[bytes, str]] = LRUCache(cache_size)
        self._computing: dict[Any, asyncio.Future[bytes]] = {}  # answers being computed
        self._probing: dict[Any, asyncio.Future[bytes | None]] = {}  # ... with their probe
        self._probes: dict[str | None, asyncio.Future[Any]] = {}  # probes being read (None: every band's)
        self._asking = 0  # questions under way (see _probe)
        self._under_way: set[asyncio.Future[Any]] = set()  # every computation running (see close)
        self._known: LRUCache[Any, None] = LRUCache(cache_size)  # questions answered here
        self._generation = keys.FIRST_GENERATION  # the last one seen
        self._bands: list[str] = []  # every band, as the last question about all of them found them
        # a band's row of `bands` under (generation, band, stamp, as_of): after a change to one
        # band, `bands` reads the summary of that band alone
        self._band_rows: LRUCache[Any, BandRow] = LRUCache(cache_size)
        self._changed: set[str] = set()  # bands this process changed since it last probed them
        # per band, the questions answered most recently (the ones refresh() answers again)
        self._asked: dict[str, LRUCache[BandParams[Any], None]] = {}

    async def answer(self, query: str, params: Any, today: dt.date | None = None) -> Any:
        """The answer to ``query`` with ``params`` (a JSON object, or its bytes) as plain JSON
        values (a fresh object); raises ``QueryError``."""
        return _json.decode(await self.ask(parse(query, params, today=today)))

    def changed(self, band: str) -> None:
        """This process has just changed ``band`` (a write-through): its next question will
        not find a cached answer, so the question's script goes along with the probe."""
        self._changed.add(band)

    async def ask(self, question: Params[Any]) -> bytes:
        """The answer to a question (checked parameters: ``contract.parse``), encoded as JSON;
        raises ``QueryError``."""
        return (await self.versioned(question))[0]

    async def versioned(self, question: Params[Any]) -> tuple[bytes, str]:
        """The answer to a question, encoded as JSON, and its version: the same for the same
        question as long as nothing the answer depends on has changed (an ``ETag``)."""
        self._asking += 1
        try:
            return await self._versioned(question)
        finally:
            self._asking -= 1

    async def _versioned(self, question: Params[Any]) -> tuple[bytes, str]:
        answer = None
        if isinstance(question, BandParams) and (question.band in self._changed or question not in self._known):
            # no answer to find in the cache (the band changed here, or a question new to this
            # process): its script goes along with the probe, one computation at a time
            self._changed.discard(question.band)
            # joined only by those who asked before its read went out (its first step): a
            # later asker may have seen a change since, and reads for itself
            probe = partial(self._answer_with_probe, question)
            answer = await self._shared(self._probing, question, probe, until_sent=True)
        if answer is None:
            answer = await self._answer_checked(question)
        if isinstance(question, BandParams):
            self._remember(question)
        return answer

    async def refresh(self, band: str) -> int:
        """Answer again, into the cache, the questions about ``band`` asked most recently
        (``REFRESHED_PER_BAND``), so that whoever asks one next finds it ready; called after
        a live change to the band. Returns how many were answered."""
        self._changed.discard(band)  # the questions go the usual way: probe, then script
        answered = 0
        for question in list(self._asked.get(band, ())):
            try:
                await self._answer_checked(question)
            except QueryError:  # refused now (the band's generation rebuilt without it...)
                continue
            answered += 1
        return answered

    def _remember(self, question: BandParams[Any]) -> None:
        self._asked.setdefault(question.band, LRUCache(REFRESHED_PER_BAND))[question] = None

    async def _answer_checked(self, question: Params[Any]) -> tuple[bytes, str]:
        """The answer to a question: from the cache if nothing it depends on has changed, else
        computed and kept."""
        if isinstance(question, BandParams):
            generation, stamp = await self._probe(question.band)
            stamps: tuple[tuple[str, bytes], ...] = ((question.band, stamp),)
        else:
            generation, stamps = await self._probe_all()
        key = (generation, stamps, question)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        # one computation of a question at a time: those asking it meanwhile await it (a
        # burst of fans after a change runs one script, not one each); each of them read the
        # stamp after asking, and the computation reads a state no older than that stamp
        answer: tuple[bytes, str] = await self._shared(self._computing, key, partial(self._compute, key))
        return answer

    async def _compute(self, key: Any) -> tuple[bytes, str]:
        """A question's answer computed, and kept under ``key`` (generation, stamps, question)."""
        generation, stamps, question = key
        if isinstance(question, BandsParams):
            answer = _encode(await self.bands(question, generation, stamps))
        else:
            answer = _encode(await answer_of(question, self._read, generation))
        return self._keep(key, answer)

    async def _shared(
        self,
        under_way: dict[Any, Any],
        key: Any,
        computation: Callable[[], Coroutine[Any, Any, Any]],
        until_sent: bool = False,
    ) -> Any:
        """The result of the computation of ``key`` under way, else of a new one (a task of its
        own, awaited shielded, so that one asker's going does not cancel it for the others;
        ``close`` ends what is left). ``until_sent``: joinable only until its first step."""
        task = under_way.get(key)
        if task is None:
            task = under_way[key] = asyncio.ensure_future(computation())
            self._under_way.add(task)
            task.add_done_callback(lambda done: self._done(under_way, key, done))
            if until_sent:
                asyncio.get_running_loop().call_soon(self._closed, under_way, key, task)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Cancel the computations under way (their askers are gone: the process is stopping),
        so that none of them reads through a connection after its client is closed."""
        tasks = list(self._under_way)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _closed(under_way: dict[Any, Any], key: Any, task: asyncio.Future[Any]) -> None:
        """A computation takes no more askers: the next one starts another (or finds it cached)."""
        if under_way.get(key) is task:
            del under_way[key]

    def _done(self, under_way: dict[Any, Any], key: Any, task: asyncio.Future[Any]) -> None:
        """A computation has ended."""
        self._closed(under_way, key, task)
        self._under_way.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, in case every asker has gone

    def _keep(self, key: Any, answer: bytes) -> tuple[bytes, str]:
        """An answer kept under its key, with its version (returned)."""
        kept = self._cache[key] = (answer, _version(key))
        self._known[key[2]] = None
        return kept

    async def _answer_with_probe(self, question: BandParams[Any]) -> tuple[bytes, str] | None:
        """The answer in one round trip: the probe and the query's script in one pipeline,
        on the generation seen last (the answer is kept under the stamp read before the
        script ran, so it is never older than its key). None if the generation has changed:
        the caller asks again the usual way."""
        band = question.band
        probe: list[Any] = []
        token = _PROBE.set(probe)
        try:
            answer: bytes | QueryError = _encode(await answer_of(question, self._read, self._generation))
        except QueryError as exc:
            answer = exc
        finally:
            _PROBE.reset(token)
        if not probe:  # refused before reading (not a question of this band's state)
            if isinstance(answer, QueryError):
                raise answer
            return None
        current, known, stamp = probe
        if not known:
            raise QueryError("not_found", "Band not found", "band")
        if number(current, keys.FIRST_GENERATION) != self._generation:
            return None
        if isinstance(answer, QueryError):
            raise answer
        return self._keep((self._generation, ((band, stamp or b"0"),), question), answer)

    async def _read(self, name: str, band: str, gen: int, args: list[Any], client: Any = None) -> Any:
        """A query's read script (``Scripts.read``); under ``_answer_with_probe``, the probe goes
        first in the same pipeline and its replies (generation, band known, stamp) are kept."""
        probe = _PROBE.get()
        if probe is None or client is not None:
            return await self.scripts.read(name, band, gen, args, client=client)

        async def queue(pipe: Pipeline) -> None:
            pipe.hget(keys.GENERATION, "current")
            pipe.sismember(keys.BANDS, band)
            pipe.get(keys.band_key(band, "stamp", gen))
            await self.scripts.read(name, band, gen, args, client=pipe)

        *replies, result = await self.scripts.pipelined(queue)
        probe[:] = replies
        if isinstance(result, Exception):
            raise result
        return result

    async def _probe(self, band: str) -> tuple[int, bytes]:
        """The current generation and the band's change stamp, in one round trip (two if the
        generation changed); raises "Band not found". Askers at once share one read: those
        who asked before it went out (a burst of requests costs Redis one probe, not one each);
        one asking alone reads at once (a shared read costs a task of its own)."""
        if self._asking <= 1 and band not in self._probes:
            return await self._read_probe(band)
        result: tuple[int, bytes] = await self._shared(
            self._probes, band, partial(self._read_probe, band), until_sent=True
        )
        return result

    async def _read_probe(self, band: str) -> tuple[int, bytes]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.GENERATION, "current")
            pipe.sismember(keys.BANDS, band)
            pipe.get(keys.band_key(band, "stamp", self._generation))
            current, known, stamp = await pipe.execute()
        if not known:
            raise QueryError("not_found", "Band not found", "band")
        generation = number(current, keys.FIRST_GENERATION)
        if generation != self._generation:
            self._generation = generation
            stamp = await self.redis.get(keys.band_key(band, "stamp", generation))
        return generation, stamp or b"0"

    async def _probe_all(self) -> tuple[int, tuple[tuple[str, bytes], ...]]:
        """The current generation and every band with its change stamp: one round trip while
        the bands and the generation are those seen last, else two; shared as ``_probe``'s."""
        if self._asking <= 1 and None not in self._probes:
            return await self._read_probe_all()
        result: tuple[int, tuple[tuple[str, bytes], ...]] = await self._shared(
            self._probes, None, self._read_probe_all, until_sent=True
        )
        return result

    async def _read_probe_all(self) -> tuple[int, tuple[tuple[str, bytes], ...]]:
        seen, asked = self._bands, self._generation
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.GENERATION, "current")
            pipe.smembers(keys.BANDS)
            self._queue_stamps(pipe, seen, asked)
            current, members, *stamps = await pipe.execute()
        generation = number(current, keys.FIRST_GENERATION)
        bands = sorted(text(b) for b in members)
        if bands != seen or generation != asked:  # read the stamps of the bands there are now
            self._generation, self._bands = generation, bands
            async with self.redis.pipeline(transaction=False) as pipe:
                self._queue_stamps(pipe, bands, generation)
                stamps = await pipe.execute()
        if stamps and not self._cluster:
            stamps = stamps[0]  # one MGET
        return generation, tuple((band, stamp or b"0") for band, stamp in zip(bands, stamps, strict=True))

    def _queue_stamps(self, pipe: Pipeline, bands: Sequence[str], generation: int) -> None:
        """Queue reads of ``bands``' stamps: one MGET, or on a cluster (their keys in as many
        slots as bands) one GET each."""
        names = [keys.band_key(b, "stamp", generation) for b in bands]
        if self._cluster:
            for name in names:
                pipe.get(name)
        elif names:
            pipe.mget(names)

    async def bands(self, p: BandsParams, gen: int, stamps: Sequence[tuple[str, bytes]]) -> list[BandRow]:
        """Every band's row (``stamps``: each band with its change stamp): the rows of the bands
        unchanged since they were last read come from memory, the others' summaries are read
        in one round trip."""
        as_of = p.as_of
        assert as_of is not None, "parse() fills as_of in"
        row_keys = [(gen, band, stamp, as_of) for band, stamp in stamps]
        rows = {key: row for key in row_keys if (row := self._band_rows.get(key)) is not None}
        missing = [key for key in row_keys if key not in rows]

        async def queue(pipe: Pipeline) -> None:
            for _, band, _, _ in missing:
                await summary(self._read, band, gen, as_of, client=pipe)

        summaries = await self.scripts.pipelined(queue) if missing else []
        for each in summaries:
            if isinstance(each, Exception):
                raise each
        for key, (name, shows, plays, _, _, first, last) in zip(missing, summaries, strict=True):
            band = key[1]
            rows[key] = BandRow(
                band=band,
                band_name=band_name(name, band),
                total_shows=shows,
                total_performances=plays,
                first_show=date_of(first) if first else None,
                last_show=date_of(last) if last else None,
            )
        # kept (again: another computation may have let some go meanwhile), the most recent last
        for key in row_keys:
            self._band_rows[key] = rows[key]
        return [rows[key] for key in row_keys]
