"""Sending an ``Answer`` through Starlette (ASGI): exactly its status and
headers, then its body.

Streamed bytes are read before the status line goes out (``prime``, off the
loop): on S3 the object was found by a HEAD and is read by a GET, and a
delete in between used to fail *after* a 200 and its headers had been sent
(the client saw a reset, the log a 500). Reading first turns that race into
the answer's ``gone`` (a clean 404), and a store failure into a 503 with
``Retry-After`` (``StorageError``'s handler). A whole local file goes out as
``http.response.pathsend`` where the server offers it: granian opens and
sends it itself.

Every read runs on the store's own threads (``http.common.on_store``), never
on the hot paths' nor the default pool's: downloads held by a frozen store
cannot delay the content URL's 307s or the API.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mediagate.edge.answer import Answer, record
from mediagate.http.common import iterate_on_store, on_store, runtime
from mediagate.media.media import ObjectNotFound

_PATHSEND = "http.response.pathsend"


class AnswerResponse(Response):
    def __init__(self, answer: Answer, request: Request) -> None:
        head = request.method == "HEAD"
        self.status_code = answer.status
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        self.background = None
        self.body = b"" if head else answer.body
        extensions = request.scope.get("extensions") or {}
        self._pathsend = answer.file if answer.file is not None and _PATHSEND in extensions else None
        self._read = None if head or self._pathsend is not None else answer.read
        self._span = answer.span
        self._rt = runtime(request)
        self._chunks: Iterator[bytes] | None = None
        self._first = b""

    @property
    def streamed(self) -> bool:
        return self._read is not None

    def prime(self) -> None:
        """The store's first read (blocking: off the loop). Raises what the
        store raises (``ObjectNotFound``, ``StorageError``)."""
        if self._chunks is None and self._read is not None:
            first, last = self._span
            self._chunks = self._read(first, last)
            self._first = next(self._chunks, b"")

    def close(self) -> None:
        """Release the store's reader (an S3 body) when the response is not sent."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self._pathsend is not None:
            await send({"type": _PATHSEND, "path": self._pathsend})
            return
        if self._read is None:
            await send({"type": "http.response.body", "body": self.body, "more_body": False})
            return
        try:
            if self._chunks is None:  # ``send_answer`` primes every streamed answer: no thread hop then
                await on_store(self._rt, self.prime)
            if self._first:
                await send({"type": "http.response.body", "body": self._first, "more_body": True})
            assert self._chunks is not None
            async for chunk in iterate_on_store(self._rt, self._chunks):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.close()


async def send_answer(request: Request, answer: Answer) -> Response:
    """The Starlette response for ``answer``, its bytes primed; records the
    access event of what is actually answered."""
    rt = runtime(request)
    response = AnswerResponse(answer, request)
    if response.streamed:
        try:
            await on_store(rt, response.prime)
        except ObjectNotFound:  # deleted after it was opened, before its first byte was read
            response.close()
            if answer.gone is None:
                raise
            answer = answer.gone()
            response = AnswerResponse(answer, request)
        except BaseException:
            response.close()
            raise
    record(rt, answer)
    return response
