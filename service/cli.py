"""The ``setlist-stats`` command: serve, ingest, query, dlq, rebuild, repartition, demo.

Every command uses ``REDIS_URL``; without it, ``serve`` and ``demo`` start an embedded
redis-server and ``ingest``/``query`` find the one a running ``serve`` started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import msgspec
import redis
import uvloop

from projections.contract import QUERIES, QueryError, described, field_doc

from . import upkeep
from .config import ROLES, Settings, http_address, redacted
from .connect import redis_client
from .embedded import redis_url_or_embedded, resolve_url


def freeze_heap() -> None:
    """Leave what a started process holds (for ``serve``: its modules, the app, its
    subscribers, some 60,000 objects) out of every later garbage collection. A full
    collection would traverse them all, holding the event loop (and every answer and
    write-through waiting on it) for 30 to 80 ms; what is allocated after this is collected
    as usual."""
    gc.collect()
    gc.freeze()


def cmd_serve(args: argparse.Namespace) -> int:
    from projections.batch import LayoutMismatch

    from .app import create_app

    if Settings.load().log_level is None:
        logging.getLogger().setLevel(logging.INFO)
    overrides = {k: v for k, v in (("role", args.role), ("http_addr", args.http)) if v}
    settings = Settings.load(**overrides)
    if settings.http_addr:
        http_address(settings.http_addr)  # or exit, saying why
        if settings.role == "consumer":
            raise SystemExit("setlist-stats serve: --http needs --role all or handlers (they answer HTTP)")
    if settings.nice:
        os.nice(settings.nice)
    with redis_url_or_embedded(persistent=True) as url:
        print(f"serving on {redacted(url)} as consumer {settings.consumer}", file=sys.stderr)
        app = create_app(settings, url)
        app.after_startup(freeze_heap)
        try:
            if settings.http_addr:
                from .server import serve_http

                uvloop.run(serve_http(app, settings))
            else:
                asyncio.run(app.run())
        except LayoutMismatch as exc:
            raise SystemExit(f"setlist-stats serve: {exc}") from None
    return 0


def _lines(paths: list[str]) -> list[tuple[str, bytes]]:
    """Each non-blank line of the files ('-': standard input), with where it is ("FILE line N")."""
    lines: list[tuple[str, bytes]] = []
    for path in paths:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise SystemExit(f"cannot read {path}: {exc.strerror}") from None
        name = "stdin" if path == "-" else path
        lines.extend((f"{name} line {n}", line) for n, line in enumerate(data.splitlines(), 1) if line.strip())
    return lines


async def _ingest(url: str, lines: list[tuple[str, bytes]], wait: bool, timeout: float) -> int:

    from .ingest import publish, wait_settled
    from .progress import Progress

    redis = redis_client(url)
    try:
        with Progress("published", len(lines)) as bar:
            ids = await publish(redis, [line for _, line in lines], progress=bar.advance)
        print(f"published {len(ids)} events", file=sys.stderr)
        if not wait:
            return 0
        with Progress("applied", len(ids)) as bar:
            settled = await wait_settled(redis, ids, timeout=timeout, progress=bar.update)
    finally:
        await redis.aclose()
    print(json.dumps({"published": settled.published, "applied": settled.applied, "dead_lettered": settled.dead}))
    where = {entry_id: label for entry_id, (label, _) in zip(ids, lines, strict=True)}
    for entry_id, reason in list(settled.reasons.items())[:20]:
        print(f"dead-lettered {where[entry_id]} (entry {entry_id}): {reason}", file=sys.stderr)
    if settled.dead > 20:
        print(f"... and {settled.dead - 20} more: setlist-stats dlq list", file=sys.stderr)
    return 1 if settled.dead else 0


async def _ingest_live(url: str, lines: list[tuple[str, bytes]], timeout: float) -> int:
    """Each event through the write-through publish, in order: applied when this returns."""
    from .client import StatsClient

    applied = refused = 0
    async with StatsClient(url, timeout=timeout) as client:
        for where, line in lines:
            try:
                result = await client.publish(json.loads(line))
            except (ValueError, QueryError) as exc:
                message = exc.message if isinstance(exc, QueryError) else f"not valid JSON: {exc}"
                print(f"refused {where}: {message}", file=sys.stderr)
                refused += 1
                continue
            except TimeoutError:
                raise TimeoutError(
                    f"{where} got no answer within {timeout} s: is `setlist-stats serve` running (its handlers)? "
                    "It was not appended, nor will it be: a write-through expires with its caller's wait"
                ) from None
            if result["applied"]:
                applied += 1
            else:
                print(f"{where} is in the stream as {result['id']}: {result.get('error')}", file=sys.stderr)
    print(json.dumps({"published": len(lines) - refused, "applied": applied, "refused": refused}))
    return 1 if refused else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    lines = _lines(args.files)
    try:
        if args.live:
            return asyncio.run(_ingest_live(resolve_url(), lines, args.timeout))
        return asyncio.run(_ingest(resolve_url(), lines, args.wait, args.timeout))
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_import(args: argparse.Namespace) -> int:
    from .importers.command import cmd_import as run_import

    return run_import(args, resolve_url())


async def _query(url: str, name: str, params: dict[str, Any], timeout: float) -> Any:
    from .client import StatsClient

    async with StatsClient(url, timeout=timeout) as client:
        return await client.query(name, **params)


def cmd_query(args: argparse.Namespace) -> int:
    params = {f.name: getattr(args, f.name) for f in QUERIES[args.name].fields() if getattr(args, f.name) is not None}
    try:
        answer = asyncio.run(_query(resolve_url(), args.name, params, args.timeout))
    except QueryError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(f"error: no answer within {args.timeout}s; is `setlist-stats serve` running?", file=sys.stderr)
        return 1
    json.dump(answer, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo_run import run_demo

    if args.write or args.tonight:
        from .demo import history, tonight

        events = history(args.seed)
        for path, what, lines in ((args.write, "history", events), (args.tonight, "show of tonight", None)):
            if path:
                with open(path, "w") as f:
                    for event in lines if lines is not None else tonight(events):
                        f.write(json.dumps(event) + "\n")
                print(f"wrote the demo {what} to {path}", file=sys.stderr)
        return 0
    with redis_url_or_embedded(persistent=False) as url:
        asyncio.run(run_demo(url, args.seed))
    return 0


def cmd_highlights(args: argparse.Namespace) -> int:
    from .live import print_highlights

    try:
        return asyncio.run(print_highlights(resolve_url(), args.band, args.follow, args.json, args.last))
    except KeyboardInterrupt:
        return 0


def _option(field: msgspec.structs.FieldInfo) -> dict[str, Any]:
    """A query parameter's command-line option, from its declaration (``projections.contract``)."""
    option: dict[str, Any] = {"help": field_doc(field), "required": field.required}
    kind, _ = described(field.type)
    if isinstance(kind, msgspec.inspect.IntType):
        option.update(type=int, metavar="N")
    elif isinstance(kind, msgspec.inspect.LiteralType):
        option["choices"] = kind.values
    elif isinstance(kind, msgspec.inspect.DateType):
        option["metavar"] = "YYYY-MM-DD"
    return option


def cmd_docs(args: argparse.Namespace) -> int:
    from projections.contract import markdown_table

    from .app import asyncapi
    from .config import settings_table

    if args.kind == "queries":
        document = markdown_table()
    elif args.kind == "settings":
        document = settings_table()
    else:
        document = asyncapi(yaml=args.format == "yaml")
    if args.out:
        Path(args.out).write_text(document)
        print(f"wrote the {args.kind} document to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(document + "\n")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="setlist-stats", description="Live song statistics for touring bands.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the consumer and the query handlers")
    s.add_argument(
        "--role",
        choices=ROLES,
        help="run only the consumer (with the reclaimer), or only the handlers (queries and write-through "
        "publish), e.g. to keep answers quick on a machine busy with a backfill (default: SERVE_ROLE, else all)",
    )
    s.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="also answer HTTP there: the /analytics/... paths, POST /events, /healthz, /readyz, /openapi.json, "
        "/docs (default: HTTP_ADDR, else no HTTP)",
    )
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("ingest", help="publish JSON-lines files of events ('-' for stdin)")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument(
        "--wait",
        action="store_true",
        help="return when every event is applied or dead-lettered; each dead-lettered one is named by its file "
        "and line, and the exit status is 1 when any was",
    )
    s.add_argument(
        "--live",
        action="store_true",
        help="one event at a time through the service's write-through publish: each is applied before the next "
        "is sent, ahead of any backlog; an invalid event is refused (exit status 1) and not appended",
    )
    s.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds --wait or one --live event waits at most (default 3600)"
    )
    s.set_defaults(func=cmd_ingest)

    from .importers.command import add_parser as add_import

    add_import(sub, cmd_import)

    s = sub.add_parser("query", help="ask one query; the answer is printed as JSON")
    queries = s.add_subparsers(dest="name", required=True, metavar="QUERY")
    for query in QUERIES.values():
        q = queries.add_parser(query.name, help=query.summary, description=query.summary)
        for field in query.fields():
            q.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, **_option(field))
        q.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
        q.set_defaults(func=cmd_query)

    s = sub.add_parser("highlights", help="the highlights of live plays (debuts, bustouts...), as they are pushed")
    s.add_argument("--band", help="one band's only")
    s.add_argument("--follow", action="store_true", help="then each new one as it is pushed, until interrupted")
    s.add_argument("--last", type=int, default=20, help="how many of the latest to print first (default 20)")
    s.add_argument("--json", action="store_true", help="each as its JSON, one a line")
    s.set_defaults(func=cmd_highlights)

    s = sub.add_parser(
        "dlq", help="the dead-letter stream: list entries, replay them after a fix, or drop them for good"
    )
    s.add_argument("action", choices=("list", "replay", "drop"))
    s.add_argument("ids", nargs="*", metavar="ID", help="dead-letter entry ids (replay, drop)")
    s.add_argument("--all", action="store_true", help="replay every parked entry")
    s.add_argument(
        "--timeout", type=float, default=60.0, help="seconds replay waits for the entries to be applied (default 60)"
    )
    s.add_argument("--limit", type=int, default=100, help="entries listed at most (default 100)")
    s.set_defaults(func=upkeep.cmd_dlq)

    s = sub.add_parser("rebuild", help="replay the whole log into a new generation of projections, then switch")
    _grace(s)
    s.set_defaults(func=upkeep.cmd_rebuild)

    s = sub.add_parser(
        "repartition",
        help="move the event log into N partitions (every serve stopped first), then rebuild from them",
        description="Append each partition's entries, in order, to their band's partition among N, record N, "
        "rebuild the projections from the new streams and delete the old ones (docs/cluster.md). Stop every "
        "`setlist-stats serve` first; start them again with STREAM_PARTITIONS=N or unset.",
    )
    s.add_argument("count", type=int, metavar="N", help="partitions, from 1 to 1024")
    _grace(s)
    s.set_defaults(func=upkeep.cmd_repartition)

    s = sub.add_parser("docs", help="write the AsyncAPI document, or the table of queries or of settings (Markdown)")
    s.add_argument(
        "kind",
        choices=("asyncapi", "queries", "settings"),
        help="asyncapi: every channel with its parameters' and answers' schemas; queries: the README's table "
        "(the OpenAPI document is served at /openapi.json); settings: docs/configuration.md's table",
    )
    s.add_argument("--format", choices=("json", "yaml"), default="json", help="of the AsyncAPI document (default json)")
    s.add_argument("--out", metavar="FILE", help="write it there (default: standard output)")
    s.set_defaults(func=cmd_docs)

    s = sub.add_parser("demo", help="stream a generated history of invented bands through the service")
    s.add_argument("--seed", type=int, default=2026)
    s.add_argument("--write", metavar="FILE", help="only write the generated events as JSON lines")
    s.add_argument(
        "--tonight",
        metavar="FILE",
        help="only write a show of The Wandering Moons dated today, an event a line (a bustout, a debut and "
        "their most played song): for `ingest --live` after the history",
    )
    s.set_defaults(func=cmd_demo)
    return p


def _grace(s: argparse.ArgumentParser) -> None:
    """``--grace`` of the commands that switch to a rebuilt generation."""
    s.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds to wait after the switch before deleting the old generation (default 5)",
    )


def main(argv: list[str] | None = None) -> int:
    settings = Settings.load()  # or exit, naming a bad setting
    logging.basicConfig(level=settings.log_level or "WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        status = int(args.func(args))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return status
    except (redis.exceptions.ConnectionError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):  # the reader went away (`query ... | head`): nothing to say
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        url = settings.redis_url or "the embedded Redis"
        print(f"error: cannot reach Redis at {redacted(url)}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
