"""Request/reply over pub/sub on a Redis Cluster: plain pub/sub (``PUBLISH``/``SUBSCRIBE``,
carried by the cluster to every node) against sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``,
kept on the node of the channel's slot), on a local cluster of three primaries.

A responder answers every request at once; a requester sends ``requests`` of them, one at a
time and 16 at once, and times each round trip. Plain: requester and responder each on a node
of its own (as two processes of the service pointed at different nodes would be), or both on
one node; sharded: both through redis-py's cluster pub/sub, the request and reply channels in
slots of two different nodes.

    .venv/bin/python tests/bench_pubsub.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_common import pct
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from service.embedded import LocalCluster


def figures(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(pct(ms, 0.99), 3), "n": len(ms)}


async def measure(
    send: Callable[[bytes], Awaitable[Any]], replies: dict[bytes, asyncio.Future[None]], n: int, concurrency: int
) -> dict[str, float]:
    times: list[float] = []

    async def one(i: int) -> None:
        key = f"{concurrency}-{i}".encode()
        replies[key] = asyncio.get_running_loop().create_future()
        t = time.perf_counter()
        await send(key)
        await asyncio.wait_for(replies[key], 10)
        times.append((time.perf_counter() - t) * 1000)
        del replies[key]

    async def worker(k: int) -> None:
        for i in range(k, n, concurrency):
            await one(i)

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return figures(times)


async def plain(cluster: LocalCluster, n: int, same_node: bool = False) -> dict[str, Any]:
    """Requester and responder on two nodes (the cluster bus carries each message between
    them), or both on one (``same_node``)."""
    a, b = (Redis(port=node.port) for node in (cluster.nodes[:1] * 2 if same_node else cluster.nodes[:2]))
    responder, requester = a.pubsub(), b.pubsub()
    await responder.subscribe("bench.req")
    await requester.subscribe("bench.rep")
    replies: dict[bytes, asyncio.Future[None]] = {}

    async def respond() -> None:
        while True:
            message = await responder.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message and message["type"] == "message":
                await a.publish("bench.rep", message["data"])

    async def receive() -> None:
        while True:
            message = await requester.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message and message["type"] == "message":
                future = replies.get(message["data"])
                if future and not future.done():
                    future.set_result(None)

    tasks = [asyncio.create_task(respond()), asyncio.create_task(receive())]
    await asyncio.sleep(0.2)
    try:
        return {f"c{c}": await measure(lambda key: b.publish("bench.req", key), replies, n, c) for c in (1, 16)}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in (responder, requester):
            await client.aclose()
        await a.aclose()
        await b.aclose()


async def sharded(cluster: LocalCluster, n: int) -> dict[str, Any]:
    client = RedisCluster.from_url(cluster.url)
    await client.initialize()
    # request and reply channels whose slots lie on two different nodes
    names = [f"bench.{k}" for k in range(200)]
    by_node: dict[str, str] = {}
    for name in names:
        by_node.setdefault(client.get_node_from_key(name).name, name)
    request, reply = list(by_node.values())[:2]
    responder, requester = client.pubsub(), client.pubsub()
    await responder.ssubscribe(request)
    await requester.ssubscribe(reply)
    replies: dict[bytes, asyncio.Future[None]] = {}

    async def respond() -> None:
        while True:
            message = await responder.get_sharded_message(timeout=1.0)
            if message and message["type"] == "smessage":
                await client.spublish(reply, message["data"])

    async def receive() -> None:
        while True:
            message = await requester.get_sharded_message(timeout=1.0)
            if message and message["type"] == "smessage":
                future = replies.get(message["data"])
                if future and not future.done():
                    future.set_result(None)

    tasks = [asyncio.create_task(respond()), asyncio.create_task(receive())]
    await asyncio.sleep(0.2)
    try:
        return {f"c{c}": await measure(lambda key: client.spublish(request, key), replies, n, c) for c in (1, 16)}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await responder.aclose()
        await requester.aclose()
        await client.aclose()


async def run(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(tmp)
        cluster.start()
        try:
            out = {}
            for _ in range(2):  # in turn, twice: the machine's drift weighs on both alike
                out.setdefault("plain_two_nodes", []).append(await plain(cluster, n))
                out.setdefault("plain_one_node", []).append(await plain(cluster, n, same_node=True))
                out.setdefault("sharded", []).append(await sharded(cluster, n))
            return out
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.requests)), indent=2))


if __name__ == "__main__":
    main()
