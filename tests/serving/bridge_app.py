"""A tiny app that misbehaves on purpose, served through our RSGI->ASGI bridge
(``mediagate.serving.bridge``) by granian embedded in this process, as
``mediagate serve`` runs it: ``python -m tests.serving.bridge_app PORT``.

Each path is one way an ASGI app can fail to answer properly.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mediagate.serving.bridge import AsgiBridge

log = logging.getLogger("bridge_app")

# In every exception below; a response that shows it leaks what the log alone should see.
SECRET = "sk_live_do_not_leak_7Hq2"
FIRST = b"first half;"  # what a failing stream sends before it fails
LENGTH = 40  # the Content-Length those streams declare: more than they send


REQUEST_ID = "RQbridge0test"  # the one response header a 500 in the app's place keeps


def _headers(request: Request) -> dict[str, str]:
    headers = {"x-request-id": REQUEST_ID, "x-app-header": "from the app"}
    if request.query_params.get("length"):
        headers["content-length"] = str(LENGTH)
    return headers


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def stream_ok(request: Request) -> Response:
    def body() -> Iterator[bytes]:
        yield b""  # an empty first chunk commits nothing
        yield b"one,"
        yield b"two"

    return StreamingResponse(body(), media_type="text/plain")


async def stream_fails_first(request: Request) -> Response:
    """Starlette sends ``http.response.start`` before it asks the iterator
    for its first chunk: the failure comes after the start, before any byte."""

    def body() -> Iterator[bytes]:
        raise RuntimeError(f"storage said no ({SECRET})")
        yield b""  # pragma: no cover - makes this a generator

    return StreamingResponse(body(), headers=_headers(request), media_type="text/plain")


async def stream_fails_later(request: Request) -> Response:
    def body() -> Iterator[bytes]:
        yield FIRST
        raise RuntimeError(f"storage said no halfway ({SECRET})")

    return StreamingResponse(body(), headers=_headers(request), media_type="text/plain")


async def echo(request: Request) -> Response:
    body = await request.body()  # raises ClientDisconnect if the client left mid-body
    log.info("echo read a whole body of %d bytes", len(body))
    return PlainTextResponse(f"{len(body)} bytes")


async def raises_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError(f"nothing sent ({SECRET})")


async def returns_without_start(scope: Scope, receive: Receive, send: Send) -> None:
    return


async def returns_after_start(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})


async def returns_mid_body(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": FIRST, "more_body": True})


starlette_app = Starlette(
    routes=[
        Route("/ok", ok),
        Route("/stream-ok", stream_ok),
        Route("/stream-fails-first", stream_fails_first),
        Route("/stream-fails-later", stream_fails_later),
        Route("/echo", echo, methods=["POST"]),
    ]
)
# Raw ASGI apps: no Starlette middleware between them and the bridge.
RAW = {
    "/raises-before-start": raises_before_start,
    "/returns-without-start": returns_without_start,
    "/returns-after-start": returns_after_start,
    "/returns-mid-body": returns_mid_body,
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await RAW.get(scope["path"], starlette_app)(scope, receive, send)


class Rsgi:
    """``serving.app.RsgiApp`` without the fast paths and the lifespan (this app has neither)."""

    def __init__(self) -> None:
        self.bridge = AsgiBridge(app, {})

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        await self.bridge(scope, proto)


async def _serve(port: int) -> None:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    server = Server(Rsgi(), address="127.0.0.1", port=port, interface=Interfaces.RSGI, log_access=False)
    await server.serve()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    asyncio.run(_serve(int(sys.argv[1])))
