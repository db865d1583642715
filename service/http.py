"""HTTP: the queries at the seed router's paths (drop-in), the write-through publish, health.

``http_app(service)`` builds a Litestar app on a running ``Service``; ``setlist-stats serve
--http HOST:PORT`` serves it from the process that answers over request/reply. Every query
route is derived from ``projections.contract.QUERIES``: its path, its query parameters (with
their constraints, in the OpenAPI document) and its answer's schema.

- ``GET /analytics/<path>``: the answer's JSON, with an ``ETag`` (the band's state version
  and the question) and ``Cache-Control``; ``If-None-Match`` gets a 304. Unknown band, song
  or show: 404 ``{"detail": "Band not found"}`` (as the seed). A bad parameter: 422 naming it
  (FastAPI's shape: ``{"detail": [{"loc": ["query", NAME], "msg": ..., "type": ...}]}``).
  Query parameters that no query knows are ignored, as FastAPI does.
- ``POST /events``: one event or a JSON array of them, through the write-through publish;
  needs ``Authorization: Bearer <API_TOKEN>`` (401 without it; 503 when no token is set).
  An array is checked whole before anything is appended: one invalid event refuses it all.
- ``GET /healthz`` (the process is up), ``GET /readyz`` (Redis answers, the consumer group
  exists; its lag in the body), ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote

import msgspec
from cachetools import LRUCache
from litestar import Litestar, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.params import JSONBody, Parameter

from projections.contract import QUERIES, Params, Published, Query, QueryError, described, field_doc, parse
from projections.events import Event, InvalidEvent, decode_event

from .app import Service
from .dashboard import dashboard_page, dashboard_routes
from .live import sse_routes

log = logging.getLogger("setlist-stats.http")

JSON = "application/json"
_events = msgspec.json.Decoder(list[msgspec.Raw])


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode({"detail": detail}), status_code=status, media_type=JSON, headers=headers)


def refused(error: QueryError, where: str = "query") -> Response[bytes]:
    """A refusal as the seed router's clients know them: 404 with the seed's message, else
    422 in FastAPI's shape, naming the parameter."""
    if error.code == "not_found":
        return _detail(404, error.message)
    if error.code == "internal":
        return _detail(500, error.message)
    loc = [where, error.parameter] if error.parameter else [where]
    return _detail(422, [{"loc": loc, "msg": error.message, "type": error.code}])


def _path_names(query: Query) -> set[str]:
    return {part[1:-1] for part in query.path.split("/") if part.startswith("{")}


class Answers:
    """A query's HTTP response from its raw parameters (path and query string, as text): what
    both the Litestar route and the fast path (``FastAnswers``) send."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings
        self.cache_control = f"public, max-age={settings.http_max_age}, must-revalidate".encode()
        # the questions parsed lately, by their raw parameters and the day (as_of's default)
        self._parsed: LRUCache[tuple[Any, ...], Params[Any]] = LRUCache(settings.answer_cache)

    def question(self, query: Query, given: dict[str, str]) -> Params[Any]:
        """``given`` checked (``contract.parse``); raises ``QueryError``."""
        key = (query.name, time.time() // 86400, *given.items())
        question = self._parsed.get(key)
        if question is None:
            question = self._parsed[key] = parse(query.name, given, strict=False)
        return question

    async def respond(
        self, query: Query, given: dict[str, str], if_none_match: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The status, headers and body of the answer to ``query`` with ``given``."""
        try:
            answer, version = await self.service.versioned(self.question(query, given))
        except QueryError as exc:
            response = refused(exc, "path" if exc.parameter in _path_names(query) else "query")
            return response.status_code or 500, [(b"content-type", JSON.encode())], response.content
        etag = f'"{version}"'
        headers = [(b"etag", etag.encode()), (b"cache-control", self.cache_control)]
        if etag in if_none_match:
            return 304, headers, b""
        return 200, [*headers, (b"content-type", JSON.encode())], answer


class FastAnswers:
    """The query routes answered straight from the ASGI scope, every other request handed to
    the Litestar app: the same responses (``Answers``) without the framework's per-request
    work, which is most of an answer's cost (see docs/performance.md)."""

    def __init__(self, app: Litestar, answers: Answers) -> None:
        self.app = app
        self.answers = answers
        # (segments after /analytics/, the first of them) -> the query, and its path names
        self.routes: dict[tuple[int, str], tuple[Query, list[str | None], frozenset[str]]] = {}
        for query in QUERIES.values():
            parts = query.path.split("/")
            names = [p[1:-1] if p.startswith("{") else None for p in parts]
            self.routes[(len(parts), parts[0])] = (query, names, frozenset(f.name for f in query.fields()))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/analytics/"):
            # split before decoding: an id may hold a "/" (sent as %2F)
            raw = scope.get("raw_path") or scope["path"].encode()
            parts = [unquote(part) for part in raw.decode("latin-1").split("?")[0].split("/")[2:]]
            route = self.routes.get((len(parts), parts[0]))
            if route is not None:
                query, names, known = route
                given = {k: v for k, v in parse_qsl(scope["query_string"].decode("latin-1")) if k in known}
                given.update((name, part) for name, part in zip(names, parts, strict=True) if name)
                if_none_match = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"if-none-match"), "")
                status, headers, body = await self.answers.respond(query, given, if_none_match)
                headers.append((b"content-length", str(len(body)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"] == "/":
            # the dashboard (the OpenAPI plugins' routes hold "/" in the Litestar app)
            page = dashboard_page()
            headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(page)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": page if scope["method"] == "GET" else b""})
            return
        await self.app(scope, receive, send)


def _query_route(answers: Answers, query: Query) -> Any:
    """One query's GET route. Its signature lists the query's parameters with their types and
    constraints (for the OpenAPI document); the values are checked by ``contract.parse``."""
    fields = query.fields()
    known = {f.name for f in fields}

    async def handler(request: Request[Any, Any, Any], **values: Any) -> Response[bytes]:
        given = {k: v for k, v in request.query_params.items() if k in known}
        given.update(request.path_params)
        status, headers, body = await answers.respond(query, given, request.headers.get("if-none-match", ""))
        return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in headers})

    in_path = _path_names(query)
    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for field in fields:
        kind, constraints = _documented(field)
        default = inspect.Parameter.empty if field.name in in_path else field.default  # shown in the document
        annotation: Any = Annotated[kind, Parameter(**constraints)]
        parameters.append(
            inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        )
    handler.__signature__ = inspect.Signature(parameters, return_annotation=Response[bytes])  # type: ignore[attr-defined]
    handler.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": Response[bytes]}
    handler.__name__ = f"get_{query.name}"
    path = "/".join(f"{{{p[1:-1]}:str}}" if p.startswith("{") else p for p in query.path.split("/"))
    return get(
        f"/analytics/{path}",
        name=query.name,
        operation_id=query.name,
        summary=query.summary,
        description=query.summary,
        tags=["analytics"],
        responses={
            200: ResponseSpec(data_container=query.answer, description="the answer"),
            304: ResponseSpec(data_container=None, description="not modified since the ETag given"),
            404: ResponseSpec(data_container=None, description='{"detail": "Band not found"} (or song, show)'),
            422: ResponseSpec(data_container=None, description="a bad parameter, named"),
        },
    )(handler)


def _documented(field: msgspec.structs.FieldInfo) -> tuple[Any, dict[str, Any]]:
    """A parameter's type as the OpenAPI document shows it (the plain type, ``None`` left
    out) and its constraints and description."""
    info, _ = described(field.type)
    out: dict[str, Any] = {"description": field_doc(field), "required": field.required}
    kind: Any = str
    if isinstance(info, msgspec.inspect.IntType):
        kind = int
        out.update({k: v for k, v in (("ge", info.ge), ("le", info.le)) if v is not None})
    elif isinstance(info, msgspec.inspect.StrType) and info.pattern:
        out["pattern"] = info.pattern
    elif isinstance(info, msgspec.inspect.LiteralType):
        kind = Literal[info.values]
    elif isinstance(info, msgspec.inspect.DateType):
        kind = dt.date
    return kind, out


def _bearer(token: str | None) -> Any:
    """A guard: the request must carry ``Authorization: Bearer <token>`` (401), and a token
    must be configured (503)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: Any) -> None:
        if not token:
            raise ServiceUnavailableException("writing is disabled: no API_TOKEN is configured")
        scheme, _, given = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise NotAuthorizedException(
                "a valid Authorization: Bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    return guard


async def _decode_events(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """``POST /events``' body decoded and checked as the stream's consumer checks events
    (``decode_event``), before the framework's own decoding: a refusal names the event (its
    index in an array) and its field. None lets the handler go on."""
    body = await request.body()
    many = body.lstrip()[:1] == b"["
    try:
        items = _events.decode(body) if many else [body]
    except msgspec.DecodeError as exc:
        return _detail(422, [{"loc": ["body"], "msg": f"not valid JSON: {exc}", "type": "invalid_event"}])
    events = []
    for at, item in enumerate(items):
        try:
            events.append(decode_event(bytes(item)))
        except InvalidEvent as exc:
            loc = ["body", at, exc.field] if many else ["body", exc.field]
            return _detail(422, [{"loc": [p for p in loc if p is not None], "msg": str(exc), "type": "invalid_event"}])
    request.state.events = events
    return None


def _publish_route(service: Service) -> Any:
    @post(
        "/events",
        summary="Write-through publish: append events to the log and apply them at once",
        description="One event or a JSON array of events (the contract's events). Each is appended to the "
        "stream and applied before the reply, ahead of any backlog. An array is checked whole first: one "
        "invalid event refuses it all (422, naming it and its field) and nothing is appended. Needs "
        "`Authorization: Bearer <API_TOKEN>`.",
        tags=["events"],
        status_code=200,
        guards=[_bearer(service.settings.token())],
        before_request=_decode_events,
        request_max_body_size=service.settings.http_max_body,
        responses={
            200: ResponseSpec(data_container=Published | list[Published], description="appended, and applied"),
            401: ResponseSpec(data_container=None, description="no valid bearer token"),
            422: ResponseSpec(data_container=None, description="an invalid event, its field named"),
            503: ResponseSpec(data_container=None, description="no API_TOKEN configured"),
        },
    )
    async def post_events(request: Request[Any, Any, Any], data: JSONBody[Event | list[Event]]) -> Response[bytes]:
        events: list[Event] = request.state.events  # decoded by _decode_events
        results = []
        for event in events:
            reply = await service.publish(event)
            if reply.error is not None:
                return refused(QueryError(reply.error.code, reply.error.message))
            results.append(reply.result)
        return Response(msgspec.json.encode(results if isinstance(data, list) else results[0]), media_type=JSON)

    return post_events


def _health_routes(service: Service) -> list[Any]:
    @get("/healthz", summary="The process is up", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/readyz",
        summary="Redis answers and the consumer group exists (its lag in the body)",
        tags=["health"],
        responses={
            200: ResponseSpec(data_container=dict[str, Any], description="ready"),
            503: ResponseSpec(data_container=dict[str, Any], description="not ready, and why"),
        },
    )
    async def readyz() -> Response[bytes]:
        body, ready = await service.readiness()
        return Response(msgspec.json.encode(body), status_code=200 if ready else 503, media_type=JSON)

    return [healthz, readyz]


def _invalid(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Litestar's own refusal of a request, as a 422: for a query, in the contract's words
    (its parameters checked again by ``contract.parse``)."""
    query = QUERIES.get(request.route_handler.name or "")
    if query is not None:
        known = {f.name for f in query.fields()}
        given = {k: v for k, v in request.query_params.items() if k in known} | dict(request.path_params)
        try:
            parse(query.name, given, strict=False)
        except QueryError as error:
            return refused(error, "path" if error.parameter in _path_names(query) else "query")
    problems = exc.extra if isinstance(exc.extra, list) else []
    detail = [
        {"loc": [p.get("source") or "body"], "msg": p.get("message") or str(exc.detail), "type": "invalid"}
        for p in problems
        if isinstance(p, dict)
    ]
    return _detail(422, detail or [{"loc": ["body"], "msg": str(exc.detail), "type": "invalid"}])


def http_app(service: Service, lifespan: Sequence[Any] = ()) -> FastAnswers:
    """The HTTP app: Litestar's, its query routes answered by ``FastAnswers``; the bearer
    token, the answers' max-age and the largest body from the service's settings."""
    answers = Answers(service)
    routes: list[Callable[..., Awaitable[Any]]] = [_query_route(answers, q) for q in QUERIES.values()]
    app = Litestar(
        route_handlers=[
            *routes,
            _publish_route(service),
            *_health_routes(service),
            *sse_routes(service),
            *dashboard_routes(service),
        ],
        openapi_config=OpenAPIConfig(
            title="setlist-stats",
            version="1",
            description="Live song statistics for touring bands: the seed router's paths under /analytics, "
            "answered from projections kept incrementally from an event stream.",
            path="/",
            render_plugins=[JsonRenderPlugin(path="/openapi.json"), SwaggerRenderPlugin(path="/docs")],
        ),
        exception_handlers={ValidationException: _invalid},
        lifespan=list(lifespan),
        debug=False,
    )
    return FastAnswers(app, answers)
