"""Run an ASGI app (Starlette) under granian's RSGI interface.

granian speaks both, but one process serves one interface; the hot paths need
RSGI (``serving/fast.py``) and every other route is plain Starlette. The
bridge is the ASGI server's half of the contract, kept to what Starlette
uses: HTTP only (no websockets), the request body streamed as it arrives,
responses sent whole (``response_bytes``), streamed (``response_stream``) or
as a file granian sends itself (the ``http.response.pathsend`` extension,
which Starlette's ``FileResponse`` uses when the server offers it).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol
from urllib.parse import quote

from starlette.types import ASGIApp, Message

from mediagate.errors import twilio_error_body

log = logging.getLogger("mediagate.serving")

_INTERNAL_ERROR = json.dumps(twilio_error_body(20500, "Internal Server Error", 500)).encode()


class Headers(Protocol):
    def items(self) -> list[tuple[str, str]]: ...
    def get(self, key: str, default: Any = None) -> Any: ...


class Scope(Protocol):
    """The part of granian's RSGI scope we read."""

    proto: str
    http_version: str
    client: str
    server: str
    scheme: str
    method: str
    path: str
    query_string: str

    @property
    def headers(self) -> Headers: ...


class Transport(Protocol):
    async def send_bytes(self, data: bytes) -> None: ...


class HttpProto(Protocol):
    """granian's ``RSGIHTTPProtocol``."""

    async def __call__(self) -> bytes: ...
    def __aiter__(self) -> Any: ...
    async def client_disconnect(self) -> None: ...
    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None: ...
    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...
    def response_file(self, status: int, headers: list[tuple[str, str]], file: str) -> None: ...
    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Transport: ...


def _address(value: str) -> tuple[str, int]:
    # "127.0.0.1:5000", "[::1]:5000"
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port) if port.isdigit() else 0


def asgi_scope(scope: Scope, state: dict[str, Any]) -> dict[str, Any]:
    # granian hands over the path percent-decoded; ASGI wants that as ``path``
    # and the bytes as sent as ``raw_path``. The original spelling is gone, so
    # ``raw_path`` is the decoded path quoted again (the same request line for
    # every path our routes accept).
    path = scope.path
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": path,
        "raw_path": quote(path, safe="/:@!$&'()*+,;=~").encode("ascii"),
        "query_string": scope.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()],
        "client": _address(scope.client),
        "server": _address(scope.server),
        "extensions": {"http.response.pathsend": {}},
        # Starlette copies this per request: the lifespan's state (serving/lifespan.py).
        "state": state.copy(),
    }


class Exchange:
    """One request's ASGI ``receive`` and ``send`` over an RSGI protocol object."""

    __slots__ = (
        "_body",
        "_body_done",
        "_headers",
        "_proto",
        "_status",
        "_stream",
        "closed",
        "finished",
        "started",
    )

    def __init__(self, proto: HttpProto) -> None:
        self._proto = proto
        self._body: Any = None
        self._body_done = False
        self._status = 500
        self._headers: list[tuple[str, str]] = []
        self._stream: Transport | None = None
        self.started = False
        self.finished = False
        self.closed = False

    async def receive(self) -> Message:
        if not self._body_done:
            if self._body is None:
                self._body = self._proto.__aiter__()
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": bytes(chunk), "more_body": True}
        # The body is read: what is left to learn is that the client went away.
        if not self.finished:
            await self._proto.client_disconnect()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())
            ]
            self.started = True
            return
        if self.finished:
            return
        if kind == "http.response.body":
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self._stream is None:
                if not more:
                    self.finished = True
                    self._proto.response_bytes(self._status, self._headers, body)
                    return
                self._stream = self._proto.response_stream(self._status, self._headers)
            if body and not self.closed:
                try:
                    await self._stream.send_bytes(body)
                except Exception:  # the client went away (granian's ProtocolClosed)
                    self.closed = True
            if not more:
                self.finished = True
        elif kind == "http.response.pathsend":
            self.finished = True
            self._proto.response_file(self._status, self._headers, message["path"])

    def fail(self) -> None:
        """Answer 500 if nothing was sent yet (the app raised or returned early)."""
        if not self.started and not self.finished:
            self.finished = True
            self._proto.response_bytes(
                500, [("content-type", "application/json"), ("cache-control", "no-store")], _INTERNAL_ERROR
            )
        elif not self.finished and self._stream is None:
            # Headers went out through ``send`` but no body: an empty one ends it.
            self.finished = True
            self._proto.response_bytes(self._status, self._headers, b"")


class AsgiBridge:
    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, proto: HttpProto) -> None:
        exchange = Exchange(proto)
        try:
            await self.app(asgi_scope(scope, self.state), exchange.receive, exchange.send)
        except Exception as exc:
            log.error("unhandled error on %s %s", scope.method, scope.path, exc_info=exc)
        finally:
            exchange.fail()
