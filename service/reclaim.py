"""Reclaiming abandoned entries: those left pending by a consumer that died or failed.

Every ``claim_idle_ms / 2`` the reclaimer runs XAUTOCLAIM for entries pending longer than
``claim_idle_ms``, applies them as the consumer would (applying is idempotent) and acks
them. An entry delivered ``max_deliveries`` times that still fails is parked in the
dead-letter stream with its delivery count and acked, so nothing stays pending forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from projections import keys
from projections.apply import stream_id_key
from projections.batch import apply_entries
from projections.scripts import Scripts
from projections.streams import Streams
from projections.values import number, stream_entries, text

from .config import Settings

log = logging.getLogger("setlist-stats.reclaim")


class Reclaimer:
    def __init__(self, scripts: Scripts, settings: Settings, streams: Streams | None = None) -> None:
        self.scripts = scripts
        self.streams = streams or Streams()
        self.redis = scripts.redis
        self.settings = settings
        self.highlighting = settings.highlighting()

    async def run(self) -> None:
        while True:
            try:
                await self.reclaim_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: try again on the next round
                log.warning("reclaim failed: %s", exc)
            await asyncio.sleep(max(self.settings.claim_idle_ms / 2000, 0.05))

    async def reclaim_once(self) -> int:
        """Claim, apply and ack every entry idle past the limit, in every partition; returns how many."""
        total = 0
        for stream in self.streams.names:
            total += await self._reclaim(stream)
        return total

    async def _reclaim(self, stream: str) -> int:
        total = 0
        start = "0-0"
        while True:
            next_start, claimed, *_ = await self.redis.xautoclaim(
                stream,
                keys.CONSUMER_GROUP,
                self.settings.consumer,
                min_idle_time=self.settings.claim_idle_ms,
                start_id=start,
                count=self.settings.batch_size,
            )
            entries = stream_entries(claimed)
            if entries:
                await self._settle(entries, stream)
                total += len(entries)
            start = text(next_start)
            if start == "0-0":
                return total

    async def _settle(self, entries: list[tuple[str, Mapping[bytes, bytes]]], stream: str) -> None:
        outcome = await apply_entries(self.scripts, entries, highlighting=self.highlighting, stream=stream)
        if outcome.done:
            await self.redis.xack(stream, keys.CONSUMER_GROUP, *outcome.done)
        if not outcome.failed:
            return
        failed = set(outcome.failed)
        pending = await self.redis.xpending_range(
            stream,
            keys.CONSUMER_GROUP,
            min=min(failed, key=stream_id_key),
            max="+",
            count=len(entries) * 2 + 10,
        )
        for row in pending:
            entry_id, deliveries = text(row["message_id"]), number(row["times_delivered"])
            if entry_id in failed and deliveries >= self.settings.max_deliveries:
                fields = dict(entries)[entry_id]
                reason = f"failed {deliveries} deliveries: {'; '.join(outcome.errors)}"
                await self.scripts.dead_letter(entry_id, reason, fields.get(b"__data__", b""), deliveries, stream)
                await self.redis.xack(stream, keys.CONSUMER_GROUP, entry_id)
                log.error("parked %s in the dead-letter stream: %s", entry_id, reason)
