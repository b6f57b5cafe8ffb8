"""``create_app``: wires the runtime (database, store, signer, fetcher) to the routes."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from sqlalchemy import exc as sa_exc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Host, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediagate import console
from mediagate.api import access as access_api
from mediagate.api import (
    accounts,
    auth_tokens,
    iam_keys,
    keys,
    media,
    media_delivery,
    messages,
    messaging_settings,
)
from mediagate.api import apidocs as apidocs_api
from mediagate.api import carrier as carrier_api
from mediagate.api import numbers as numbers_api
from mediagate.api import retention as retention_api
from mediagate.api import testing as testing_api
from mediagate.console.web import ConsoleState
from mediagate.core.errors import ApiError, MethodNotAllowed, NotFound, twilio_error_body
from mediagate.core.proxies import TrustedProxies, TrustedProxyMiddleware, parse_networks
from mediagate.db.failures import RETRY_AFTER, UNAVAILABLE_TYPES, is_database_unavailable
from mediagate.edge import hosts
from mediagate.http import probes as ops_routes
from mediagate.http import redirects
from mediagate.observability import instrument, metrics
from mediagate.observability.health import Readiness
from mediagate.observability.middleware import ObservabilityMiddleware, route_templates
from mediagate.runtime import background
from mediagate.runtime.context import Runtime
from mediagate.storage import DISK_FULL, StorageError

log = logging.getLogger("mediagate")

WORKER_ONLY = "this process runs only the background workers (MEDIAGATE_ROLE=worker); it serves no API"


def _mount(path: str, routes: list[BaseRoute]) -> Mount:
    """A ``Mount`` whose prefix matches every path below it. Starlette compiles
    the ``{path:path}`` tail as ``.*`` without DOTALL, so a path holding a
    decoded newline (``%0A``) fell out of its mount to the API's catch-all 404,
    and the media hosts answered in the API's error shape, not their own."""
    mount = Mount(path, routes=routes)
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount


def _edge_route(api_base: str, edge_base: str, routes: list[BaseRoute]) -> BaseRoute:
    """Mount a media host at its configured URL: by path prefix when it shares
    the API's hostname (the embedded default), by ``Host`` header otherwise."""
    api, edge = urlsplit(api_base), urlsplit(edge_base)
    if edge.hostname != api.hostname:
        inner: BaseRoute = _mount(edge.path, routes)
        return Host(edge.hostname or "", app=Router(routes=[inner]))
    if not edge.path:
        raise ValueError(f"{edge_base} shares the API's host, so it needs a path prefix")
    return _mount(edge.path, routes)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if exc.status == 401 else None
    if exc.status == 503:
        headers = {"Retry-After": str(RETRY_AFTER)}
    if isinstance(getattr(exc, "retry_after", None), int):  # accounts/quotas.py: the hourly quota
        headers = {"Retry-After": str(exc.retry_after)}  # type: ignore[attr-defined]
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        if request.app.state.runtime.settings.role == "worker":
            return await _api_error(request, ApiError(WORKER_ONLY, code=20404, status=404))
        return await _api_error(request, NotFound(request.url.path))
    if exc.status_code == 405:
        response = await _api_error(request, MethodNotAllowed())
        # RFC 9110 15.5.6: a 405 must carry Allow; Starlette puts it on the exception.
        response.headers.update(exc.headers or {})
        return response
    return JSONResponse(
        twilio_error_body(20000 + exc.status_code, str(exc.detail), exc.status_code),
        status_code=exc.status_code,
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _internal_error()


def _internal_error() -> Response:
    return JSONResponse(twilio_error_body(20500, "Internal Server Error", 500), status_code=500)


def _service_unavailable(message: str) -> Response:
    return JSONResponse(
        twilio_error_body(20503, message, 503),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database that is down, stalled or drained answers 503 + Retry-After:
    the request may be retried, nothing is wrong with it. Registered on the
    ExceptionMiddleware (not as the catch-all) so the response is final and
    the keep-alive connection survives."""
    if not is_database_unavailable(exc):
        log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return _internal_error()
    # The type only: the message of a connection error can carry the DSN.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return _service_unavailable("Service Unavailable")


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client left before its request body was complete: nothing was done
    # with the part that came. Not our error, so no traceback; the answer is
    # for a client that only stopped sending (and for the access line).
    log.info("client went away mid-request on %s %s", request.method, request.url.path)
    return JSONResponse(twilio_error_body(20001, "The request body was incomplete.", 400), status_code=400)


async def _os_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OSError)
    if exc.errno in DISK_FULL:
        log.error("media storage is full on %s %s", request.method, request.url.path)
        return _service_unavailable("Service Unavailable: media storage is full")
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _internal_error()


class ErrorBoundary:
    """Answer any other unhandled exception with Twilio's 500 body *here*.

    Starlette's own catch-all (ServerErrorMiddleware) sends the 500 and then
    re-raises so that the server logs it, and ASGI servers (uvicorn did) close the connection of
    every request that raised: each 500 cost the client its keep-alive
    connection. Only when the response has already started is re-raising
    the one option left."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            log.error("unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            await _internal_error()(scope, receive, send)


async def _storage_error(request: Request, exc: Exception) -> Response:
    # The object store is down or refusing us (translated by the backend, so
    # no provider types here). Whatever was being stored was not committed
    # (rows are written after the bytes), so the client may simply retry.
    log.warning("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
    body = twilio_error_body(20503, "Media storage is temporarily unavailable; try again.", 503)
    return JSONResponse(
        body, status_code=503, headers={"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"}
    )


def create_app(rt: Runtime) -> Starlette:
    s = rt.settings
    routes: list[BaseRoute] = [
        _edge_route(s.public_url, s.secure_media_url, list(hosts.secure_routes)),
        _edge_route(s.public_url, s.public_media_url, list(hosts.public_routes)),
        *media.routes,
        *messages.routes,
        *keys.routes,
        *messaging_settings.routes,
        *media_delivery.routes,
        *retention_api.routes,
        *accounts.routes,
        *auth_tokens.routes,
        *iam_keys.routes,
        *numbers_api.routes,
        *carrier_api.routes,
        *access_api.routes,  # early revocation, media access audit
        *ops_routes.routes,  # /healthz, /readyz, /metrics
        *apidocs_api.routes,  # /openapi.json, /docs
        _mount("/console", console.routes),
    ]
    if s.test_mode:
        # Only in test mode: otherwise /v1/Testing/* is an unknown path (404) like any other.
        routes += testing_api.routes
    if s.role == "worker":
        # Background work only: the probes and metrics, every other path a 404 that says why.
        routes = list(ops_routes.routes)
    # Host routes must not shadow the API on its own host: put them last.
    routes.sort(key=lambda r: isinstance(r, Host))
    instrument.count_storage_errors(rt.store)
    instrument.count_database_errors(rt.engine)
    app = Starlette(
        routes=routes,
        # The webhook and outbox workers, the signing-key refresh and the scheduled gc.
        lifespan=background.lifespan(rt),
        # Observability outermost of the two, so that it sees the 500s ErrorBoundary answers.
        middleware=[
            Middleware(ObservabilityMiddleware, templates=route_templates(routes), access_log=s.access_log),
            Middleware(ErrorBoundary),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            **{cls: _database_error for cls in (sa_exc.DBAPIError, *UNAVAILABLE_TYPES)},
            OSError: _os_error,
            Exception: _server_error,
        },
    )
    app.add_exception_handler(StorageError, _storage_error)
    app.state.runtime = rt
    if s.role != "worker":
        # The console's cookie signer and sign-in limiter, made once here (not lazily behind a lock).
        app.state.console = ConsoleState(rt)
    app.state.readiness = Readiness(rt)
    app.state.scrape_collector = metrics.ScrapeTimeCollector(rt)
    metrics.WORKER_STARTS.inc()
    redirects.install(app, s.public_url)  # trailing-slash redirects on PUBLIC_URL, not Host
    # Outermost: client address and scheme from proxy headers, only from trusted proxies.
    app.add_middleware(TrustedProxyMiddleware, proxies=TrustedProxies(parse_networks(s.trusted_proxies)))
    return app
