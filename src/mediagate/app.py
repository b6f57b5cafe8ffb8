"""``create_app``: wires the runtime (database, store, signer, fetcher) to the routes."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Host, Mount, Route, Router

from mediagate import console
from mediagate.api import accounts, auth_tokens, iam_keys, keys, media, messages, messaging_settings
from mediagate.api import carrier as carrier_api
from mediagate.api import numbers as numbers_api
from mediagate.context import Runtime
from mediagate.edge import hosts
from mediagate.errors import ApiError, MethodNotAllowed, NotFound, twilio_error_body
from mediagate.services import webhooks
from mediagate.storage import StorageError

log = logging.getLogger("mediagate")


def _edge_route(api_base: str, edge_base: str, routes: list[BaseRoute]) -> BaseRoute:
    """Mount a media host at its configured URL: by path prefix when it shares
    the API's hostname (the embedded default), by ``Host`` header otherwise."""
    api, edge = urlsplit(api_base), urlsplit(edge_base)
    if edge.hostname != api.hostname:
        inner: BaseRoute = Mount(edge.path, routes=routes) if edge.path else Mount("", routes=routes)
        return Host(edge.hostname or "", app=Router(routes=[inner]))
    if not edge.path:
        raise ValueError(f"{edge_base} shares the API's host, so it needs a path prefix")
    return Mount(edge.path, routes=routes)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
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
    return JSONResponse(twilio_error_body(20500, "Internal Server Error", 500), status_code=500)


async def _storage_error(request: Request, exc: Exception) -> Response:
    # The object store is down or refusing us (translated by the backend, so
    # no provider types here). Whatever was being stored was not committed
    # (rows are written after the bytes), so the client may simply retry.
    log.warning("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
    body = twilio_error_body(20503, "Media storage is temporarily unavailable; try again.", 503)
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5", "Cache-Control": "no-store"})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(rt: Runtime) -> Starlette:
    s = rt.settings
    routes: list[BaseRoute] = [
        _edge_route(s.public_url, s.secure_media_url, list(hosts.secure_routes)),
        _edge_route(s.public_url, s.public_media_url, list(hosts.public_routes)),
        *media.routes,
        *messages.routes,
        *keys.routes,
        *messaging_settings.routes,
        *accounts.routes,
        *auth_tokens.routes,
        *iam_keys.routes,
        *numbers_api.routes,
        *carrier_api.routes,
        Route("/healthz", health, methods=["GET"]),
        Mount("/console", routes=console.routes),
    ]
    # Host routes must not shadow the API on its own host: put them last.
    routes.sort(key=lambda r: isinstance(r, Host))
    app = Starlette(
        routes=routes,
        lifespan=webhooks.lifespan(rt),  # the webhook delivery worker
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.add_exception_handler(StorageError, _storage_error)
    app.state.runtime = rt
    return app
