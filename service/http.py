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

import contextlib
import hmac
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any

import msgspec
from faststream import FastStream
from litestar import Litestar, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.params import Parameter

from projections.contract import QUERIES, Query, QueryError, parse
from projections.events import Event, InvalidEvent, checked

from .app import Service, started
from .config import Settings, http_address

log = logging.getLogger("setlist-stats.http")

JSON = "application/json"


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


def _query_route(service: Service, query: Query, max_age: int) -> Any:
    """One query's GET route. Its signature lists the query's parameters with their types and
    constraints (for the OpenAPI document); the values are checked by ``contract.parse``."""
    in_path = _path_names(query)
    fields = query.fields()
    known = {f.name for f in fields}
    cache_control = f"public, max-age={max_age}, must-revalidate"

    async def handler(request: Request[Any, Any, Any], **values: Any) -> Response[bytes]:
        given = {k: v for k, v in request.query_params.items() if k in known}
        given.update(request.path_params)
        try:
            question = parse(query.name, given, strict=False)
            answer, version = await service.answer_http(question)
        except QueryError as exc:
            return refused(exc, "path" if exc.parameter in in_path else "query")
        etag = f'"{version}"'
        headers = {"ETag": etag, "Cache-Control": cache_control}
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers=headers)
        return Response(answer, media_type=JSON, headers=headers)

    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for field in fields:
        constraints = _constraints(field)
        if field.name in in_path:
            kind: Any = Annotated[str, Parameter(**constraints)]
            parameters.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, annotation=kind))
        else:  # optional: checked (with its default) by parse; the document shows the default
            kind = Annotated[field.type, Parameter(**constraints)]
            parameter = inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=field.default
            )
            parameters.append(parameter)
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


def _constraints(field: msgspec.structs.FieldInfo) -> dict[str, Any]:
    """A parameter's constraints and description for the OpenAPI document."""
    from projections.contract import field_doc

    info = msgspec.inspect.type_info(field.type)
    while isinstance(info, (msgspec.inspect.Metadata, msgspec.inspect.UnionType)):
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        else:
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    out: dict[str, Any] = {"description": field_doc(field), "required": field.required}
    if isinstance(info, msgspec.inspect.IntType):
        out.update({k: v for k, v in (("ge", info.ge), ("le", info.le)) if v is not None})
    if isinstance(info, msgspec.inspect.StrType) and info.pattern:
        out["pattern"] = info.pattern
    return out


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


def _publish_route(service: Service, token: str | None) -> Any:
    @post(
        "/events",
        summary="Write-through publish: append events to the log and apply them at once",
        description="One event or a JSON array of events (the contract's events). Each is appended to the "
        "stream and applied before the reply, ahead of any backlog. An array is checked whole first: one "
        "invalid event refuses it all (422, naming it and its field) and nothing is appended. Needs "
        "`Authorization: Bearer <API_TOKEN>`.",
        tags=["events"],
        status_code=200,
        guards=[_bearer(token)],
        request_max_body_size=64 * 1024 * 1024,
        responses={
            401: ResponseSpec(data_container=None, description="no valid bearer token"),
            422: ResponseSpec(data_container=None, description="an invalid event, its field named"),
            503: ResponseSpec(data_container=None, description="no API_TOKEN configured"),
        },
    )
    async def post_events(data: Event | list[Event]) -> Response[bytes]:
        events = data if isinstance(data, list) else [data]
        for at, event in enumerate(events):
            try:
                checked(event)
            except InvalidEvent as exc:
                loc = ["body", at, exc.field] if isinstance(data, list) else ["body", exc.field]
                return _detail(422, [{"loc": loc, "msg": str(exc), "type": "invalid_event"}])
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

    @get("/readyz", summary="Redis answers and the consumer group exists (its lag in the body)", tags=["health"])
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


def http_app(service: Service, token: str | None = None, max_age: int = 0, lifespan: Sequence[Any] = ()) -> Litestar:
    routes: list[Callable[..., Awaitable[Any]]] = [_query_route(service, q, max_age) for q in QUERIES.values()]
    return Litestar(
        route_handlers=[*routes, _publish_route(service, token), *_health_routes(service)],
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

    asgi = http_app(service, settings.api_token, settings.http_max_age, lifespan=[lifespan])
    config = uvicorn.Config(asgi, host=host, port=port, access_log=False, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()
