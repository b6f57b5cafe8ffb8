"""Per request: a request id, the access-log line and the HTTP metrics.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: that one runs the app in
a separate task and buffers through memory streams, a real cost on the
content redirect and the media hosts). The added work per request is a
header scan, a clock read, two counter increments and a histogram
observation, and one log record.

The access line carries the route *template*
(``/2010-04-01/Accounts/{account_sid}/...``), never the raw path's query
string: a signed media URL carries its ``Signature=`` there, and neither the
Authorization header nor any other header is logged.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from starlette.routing import BaseRoute, Host, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediagate.observability import metrics
from mediagate.observability.lines import REQUEST_ID, lines, shape

ACCESS_LOGGER = "mediagate.access"
_ACCESS_LINE = shape(
    ACCESS_LOGGER, "request", ("method", "route", "status", "duration_ms", "bytes", "client")
)

# What we accept from a client or proxy as its request id: bounded, and only
# characters that cannot break a log line, a header or a JSON string.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}")
_REQUEST_ID_STR = re.compile(_REQUEST_ID.pattern.decode("ascii"), re.ASCII)
UNMATCHED = "(unmatched)"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def leaf_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[BaseRoute, str]]:
    """Every leaf route with its full path template, mounts included, in
    routing order (Starlette leaves only the innermost matched route in
    ``scope["route"]``). A route under a ``Host`` is shown as ``//{host}{path}``."""
    for route in routes:
        if isinstance(route, Mount):
            yield from leaf_routes(route.routes, prefix + route.path)
        elif isinstance(route, Host):
            yield from leaf_routes(route.routes, f"//{route.host}{prefix}")
        else:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                yield route, prefix + path


def route_templates(routes: Iterable[BaseRoute], prefix: str = "") -> dict[int, str]:
    """``id(route) -> full path template`` for every leaf route (``leaf_routes``)."""
    return {id(route): template for route, template in leaf_routes(routes, prefix)}


def request_id_of(value: str | None) -> str:
    """``request_id`` for a header value already decoded (the RSGI fast path)."""
    if value is not None and _REQUEST_ID_STR.fullmatch(value):
        return value
    return new_request_id()


# A random half per process and a counter: unique, 32 hex digits like before,
# and no system call per request (os.urandom was a visible share of the 307).
# Request ids only join log lines; nothing relies on them being unguessable.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(4), "big"))


def _reseed() -> None:
    # A forked worker must not repeat its parent's (or a sibling's) ids.
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX = os.urandom(8).hex()
    _ID_COUNTER = itertools.count(int.from_bytes(os.urandom(4), "big"))


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return new_request_id()


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, templates: Mapping[int, str], access_log: bool = True) -> None:
        self.app = app
        self._templates = templates
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        # Every record logged while serving this request (on the event loop or in
        # the threadpool, which copies the context) carries the id. Not reset at
        # the end: each request runs in its own task and so its own context, and
        # an unhandled error is logged by Starlette's outermost middleware, after
        # this one has returned.
        REQUEST_ID.set(rid)
        rid_header = (b"x-request-id", rid.encode("ascii"))
        status = 500
        body_bytes = 0
        declared = 0
        whole_file = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, body_bytes, declared, whole_file
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                for name, value in headers:
                    if name.lower() == b"content-length" and value.isdigit():
                        declared = int(value)
                headers.append(rid_header)
                message["headers"] = headers
            elif kind == "http.response.body":
                body_bytes += len(message.get("body", b""))
            elif kind in ("http.response.pathsend", "http.response.zerocopy"):
                whole_file = True  # the server sends the file itself (granian)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            status = 500
            raise
        finally:
            self._record(
                scope, rid, status, time.perf_counter() - started, declared if whole_file else body_bytes
            )

    def _record(self, scope: Scope, rid: str, status: int, elapsed: float, sent: int) -> None:
        route = self._templates.get(id(scope.get("route")), UNMATCHED)
        method: str = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
        metrics.HTTP_DURATION.labels(route).observe(elapsed)
        if sent:
            metrics.HTTP_BYTES.labels(route).inc(sent)
        if status == 429:
            metrics.RATE_LIMITED.labels(route).inc()
        if self._access_log:
            client: Any = scope.get("client")
            access_line(rid, method, route, status, elapsed, sent, client[0] if client else None)


def access_line(
    rid: str, method: str, route: str, status: int, elapsed: float, sent: int, client: str | None
) -> None:
    """The access line of one request (batched: observability/lines.py)."""
    lines.emit_values(_ACCESS_LINE, rid, (method, route, status, round(elapsed * 1000, 3), sent, client))
