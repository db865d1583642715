"""The commands that look after a deployment's data: ``dlq`` (the dead-letter stream:
list, replay, drop) and ``rebuild`` (the projections replayed from the log)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis

from .connect import redis_client

T = TypeVar("T")


async def _dlq(url: str, action: str, ids: list[str], limit: int, timeout: float) -> int:

    from . import dlq
    from .ingest import wait_settled

    redis = redis_client(url)
    try:
        if action == "list":
            entries = await dlq.list_dead(redis, count=limit)
            for entry in entries:
                print(json.dumps(entry))
            if not entries:
                print("the dead-letter stream is empty", file=sys.stderr)
            return 0
        try:
            if action == "drop":
                print(json.dumps({"dropped": await dlq.drop(redis, ids)}))
                return 0
            replayed = await dlq.replay(redis, ids or None)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        try:
            settled = await wait_settled(redis, replayed, timeout=timeout)
        except TimeoutError:
            print(json.dumps({"replayed": len(replayed), "applied": None}))
            print(f"replayed, not applied within {timeout} s: is `setlist-stats serve` running?", file=sys.stderr)
            return 1
        print(json.dumps({"replayed": len(replayed), "applied": settled.applied, "failed_again": settled.dead}))
        for entry_id, reason in settled.reasons.items():
            print(f"failed again ({entry_id}, parked anew): {reason}", file=sys.stderr)
        return 1 if settled.dead else 0
    finally:
        await redis.aclose()


def cmd_dlq(args: argparse.Namespace) -> int:
    if args.action == "replay" and not args.ids and not args.all:
        print("error: name the dead-letter ids to replay, or --all", file=sys.stderr)
        return 2
    if args.action == "drop" and not args.ids:
        print("error: name the dead-letter ids to drop", file=sys.stderr)
        return 2
    from .embedded import resolve_url

    return asyncio.run(_dlq(resolve_url(), args.action, args.ids, args.limit, args.timeout))


async def _over_the_log(url: str, label: str, work: Callable[[Redis, Callable[[int, int], None]], Awaitable[T]]) -> T:
    """``work(redis, progress)`` with a progress bar over the event log (every partition)."""
    from .connect import partitions_of
    from .progress import Progress
    from .rebuild import log_length

    redis = redis_client(url)
    try:
        with Progress(label, await log_length(redis, await partitions_of(redis))) as bar:

            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done)

            return await work(redis, advance)
    finally:
        await redis.aclose()


async def _rebuild(url: str, grace: float) -> int:
    from .rebuild import rebuild

    result = await _over_the_log(url, "replayed", lambda redis, advance: rebuild(redis, grace=grace, progress=advance))
    print(
        json.dumps(
            {
                "old_generation": result.old,
                "new_generation": result.new,
                "replayed": result.replayed,
                "dead_lettered": result.dead,
                "old_keys_deleted": result.deleted_keys,
            }
        )
    )
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    try:
        from .embedded import resolve_url

        return asyncio.run(_rebuild(resolve_url(), args.grace))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _repartition(url: str, count: int, grace: float) -> int:
    from .repartition import repartition

    result = await _over_the_log(
        url, "copied", lambda redis, advance: repartition(redis, count, grace=grace, progress=advance)
    )
    rebuilt = result.rebuilt
    print(
        json.dumps(
            {
                "old_partitions": result.old,
                "new_partitions": result.new,
                "copied": result.copied,
                "new_generation": rebuilt.new if rebuilt else None,
                "replayed": rebuilt.replayed if rebuilt else 0,
            }
        )
    )
    return 0


def cmd_repartition(args: argparse.Namespace) -> int:
    from .embedded import resolve_url

    if not 1 <= args.count <= 1024:
        print(f"error: N must be from 1 to 1024, got {args.count}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_repartition(resolve_url(), args.count, args.grace))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
