"""Run an ASGI app (Starlette) under granian's RSGI interface.

granian speaks both, but one process serves one interface; the hot paths need
RSGI (``serving/fast.py``) and every other route is plain Starlette. The
bridge is the ASGI server's half of the contract, kept to what Starlette
uses: HTTP only (no websockets), the request body streamed as it arrives,
responses sent whole (``response_bytes``), streamed (``response_stream``) or
as a file granian sends itself (the ``http.response.pathsend`` extension,
which Starlette's ``FileResponse`` uses when the server offers it).

When the app fails (raises, or returns before its response is complete), the
client is told the truth: while nothing has reached granian (the start is
held here until the first body byte), the answer is Twilio's 500 body; once
bytes have gone, the connection is cut (``serving/connection.py``) so that
the client sees a truncated body, never a complete-looking one.

The other way round: granian ends the request body of a client that went
away mid-upload as if it were whole. Such a body is reported to the app as
``http.disconnect``, as an ASGI server would, so that nothing acts on half a
request. Two signs tell it: a body shorter than its Content-Length, and, for
a body without one (HTTP/1.1 chunked), the way granian's body iterator ends.
It yields each data frame, then one empty chunk for the end, then stops;
hyper's error for a body that broke off (no last chunk, a cut inside a chunk)
is swallowed into one *more* empty chunk before that end (granian 2.x,
``RSGIHTTPProtocol.__anext__``). So an empty chunk followed by anything but
the stop means the body did not end properly. Trailer fields arrive the same
way and cannot be told apart: such a body is refused too (no Twilio client
sends them). HTTP/2 is left to the Content-Length check: its empty DATA
frames could look the same, and refusing whole uploads would be worse.
"""

from __future__ import annotations

import json
import logging
from enum import Enum
from typing import Any, Protocol
from urllib.parse import quote

from starlette.types import ASGIApp, Message

from mediagate.core.errors import twilio_error_body
from mediagate.serving import connection

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


def _content_length(headers: Headers) -> int | None:
    # hyper has refused a request whose Content-Length is not one number.
    value = headers.get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


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
        "_chunked",
        "_expected",
        "_headers",
        "_proto",
        "_received",
        "_status",
        "_stream",
        "closed",
        "finished",
    )

    def __init__(self, proto: HttpProto, content_length: int | None = None, *, chunked: bool = False) -> None:
        self._proto = proto
        # HTTP/1.x without Content-Length: only there is an empty chunk before
        # the end known to mean a broken body (see the module's docstring).
        self._chunked = chunked
        self._body: Any = None
        self._body_done = False
        self._expected = content_length
        self._received = 0
        self._status = 500
        self._headers: list[tuple[str, str]] = []
        self._stream: Transport | None = None
        self.finished = False
        self.closed = False

    async def receive(self) -> Message:
        if not self._body_done:
            if self._body is None:
                self._body = self._proto.__aiter__()
            broken = False
            while True:
                try:
                    chunk = await self._body.__anext__()
                except StopAsyncIteration:
                    break
                if chunk:
                    self._received += len(chunk)
                    return {"type": "http.request", "body": bytes(chunk), "more_body": True}
                if self._chunked:
                    broken = not await self._stops()
                    break
                # Elsewhere an empty chunk carries nothing: read on to the end.
            self._body_done = True
            # granian ends the body of a client that went away mid-upload as if
            # it were whole; an app told "that was all" would act on half a
            # request (a message with half its Body).
            if broken or (self._expected is not None and self._received < self._expected):
                self.closed = True
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": b"", "more_body": False}
        # The body is read: what is left to learn is that the client went away.
        if not self.finished and not self.closed:
            await self._proto.client_disconnect()
        return {"type": "http.disconnect"}

    async def _stops(self) -> bool:
        """After an empty chunk: whether the iteration stops now (the body's
        proper end) rather than going on (an error or trailers came first)."""
        try:
            await self._body.__anext__()
        except StopAsyncIteration:
            return True
        return False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())
            ]
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
                if not body:
                    return  # nothing to send yet: the response stays uncommitted (``end``)
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

    def end(self, server: str, client: str, http_version: str) -> Ending:
        """After the app returned or raised: finish what it left unfinished."""
        if self.finished:
            return Ending.COMPLETE
        self.finished = True
        stream, self._stream = self._stream, None
        if stream is None:
            # Nothing reached granian, hence nothing reached the client: a clean
            # 500, on a connection that stays open for the next request.
            headers = [("content-type", "application/json"), ("cache-control", "no-store")]
            headers += [(k, v) for k, v in self._headers if k == "x-request-id"]
            self._proto.response_bytes(500, headers, _INTERNAL_ERROR)
            return Ending.ANSWERED_500
        # Part of the body is out. Dropping ``stream`` ends the body cleanly:
        # shorter than a Content-Length, hyper then closes the connection itself;
        # a chunked body would end with its last chunk, so the connection is cut
        # first. (HTTP/2 is left alone: its connection carries other requests.)
        if self.closed:
            return Ending.CLIENT_GONE
        if any(k == "content-length" for k, _ in self._headers):
            return Ending.CUT
        if http_version.startswith("1") and connection.cut(_address(server), _address(client)):
            return Ending.CUT
        return Ending.ENDED_CLEANLY


class Ending(Enum):
    """How a response the app did not finish properly ended, for the log."""

    COMPLETE = "the response had been sent whole"
    ANSWERED_500 = "answered 500"
    CUT = "the response was cut short"
    CLIENT_GONE = "the client had gone"
    ENDED_CLEANLY = "the connection could not be cut: the body may look complete to the client"


class AsgiBridge:
    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, proto: HttpProto) -> None:
        length = _content_length(scope.headers)
        chunked = length is None and scope.http_version.startswith("1")
        exchange = Exchange(proto, length, chunked=chunked)
        error: Exception | None = None
        try:
            await self.app(asgi_scope(scope, self.state), exchange.receive, exchange.send)
        except Exception as exc:
            error = exc
        finally:
            ending = exchange.end(scope.server, scope.client, scope.http_version)
        if error is not None:
            log.error("unhandled error on %s %s (%s)", scope.method, scope.path, ending.value, exc_info=error)
        elif ending is not Ending.COMPLETE:
            log.error(
                "the app returned an unfinished response on %s %s (%s)",
                scope.method,
                scope.path,
                ending.value,
            )
