"""The ``Range`` header: read canonically before anything serves bytes, and
answered for objects that are not local files (S3).

Starlette's ``FileResponse`` (and the front nginx with X-Accel-Redirect)
parse ``Range`` with their own rules; Starlette's ``int()`` accepts ``"٣"``,
``"+3"`` and ``"1_0"``. We check the header first with RFC 9110's grammar
and ASCII digits in canonical form, so every server behind us sees only a
range with one meaning; anything else is a 400 here.

Local files then go through ``FileResponse``; ``blob_response`` gives any
other backend's ``Blob`` the same answers for the cases clients use: one byte
range (``a-b``, ``a-``, ``-n``) → 206 with ``Content-Range``; a start at or
past the end → 416 ``bytes */size``; an ``If-Range`` that is not our current
ETag → the whole object. Several ranges in one request get the whole object
(200), which RFC 9110 allows (a server may ignore Range); multipart/byteranges
is the only thing the local path does that this one does not.

A ``GET`` answer is a ``PrimedStream``: its first chunk is read (off the
loop, ``edge/serve.py``) before the status line goes out. On S3 the object
was found by a HEAD and is read by a GET: a delete in between used to fail
*after* a 200 and its headers had been sent (the client saw a reset, the
log a 500). Reading first turns that race into a clean 404, and a store
failure into a 503 with ``Retry-After``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from mediagate.inputs import canonical_int
from mediagate.services.media import Blob

MAX_PARTS = 16  # more ranges than any player asks for; the rest is a request amplification
_PART = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)

RangeSpec = tuple[int | None, int | None]  # (first, last); (None, n) is the last n bytes


class RangeError(ValueError):
    """A ``Range`` header that is not canonical ``bytes=first-last[, ...]``."""


def parse_range(header: str) -> list[RangeSpec]:
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip(" \t").lower() != "bytes":
        raise RangeError("only bytes ranges are served")
    parts = spec.split(",")
    if len(parts) > MAX_PARTS:
        raise RangeError(f"at most {MAX_PARTS} ranges")
    out: list[RangeSpec] = []
    for part in parts:
        match = _PART.fullmatch(part.strip(" \t"))
        if match is None:
            raise RangeError("a range is first-last, first- or -suffix")
        first = _number(match.group(1))
        last = _number(match.group(2))
        if first is None and last is None:
            raise RangeError("a range needs a first or a last byte")
        if first is not None and last is not None and last < first:
            raise RangeError("a range ends before it starts")
        out.append((first, last))
    return out


def _number(text: str) -> int | None:
    if not text:
        return None
    value = canonical_int(text, max_digits=18)
    if value is None:
        raise RangeError("byte positions are ASCII digits without leading zeros")
    return value


class _Unsatisfiable(Exception):
    pass


def _span(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a canonical header, ``None`` for "send it all";
    raises ``RangeError`` or ``_Unsatisfiable``."""
    specs = parse_range(header)
    if len(specs) != 1:
        return None
    first, last = specs[0]
    if first is None:  # suffix: the last n bytes
        assert last is not None
        if last == 0 or size == 0:
            raise _Unsatisfiable
        return max(size - last, 0), size - 1
    if first >= size:
        raise _Unsatisfiable
    return first, min(last, size - 1) if last is not None else size - 1


def blob_response(request: Request, blob: Blob, headers: dict[str, str], media_type: str) -> Response:
    headers = {**headers, "Accept-Ranges": "bytes"}
    span: tuple[int, int] | None = None
    header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if header is not None and (if_range is None or if_range == headers.get("ETag")):
        try:
            span = _span(header, blob.size)
        except RangeError:
            return PlainTextResponse("Malformed range header.", status_code=400)
        except _Unsatisfiable:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{blob.size}"})
    status = 200
    start, end = 0, blob.size - 1
    if span is not None:
        status = 206
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    headers["Content-Length"] = str(end - start + 1 if blob.size else 0)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)

    chunks = blob.stream(start, end) if blob.size else iter(())
    return PrimedStream(chunks, status_code=status, headers=headers, media_type=media_type)


class PrimedStream(StreamingResponse):
    """A streamed body whose first chunk can be read before anything is sent.

    ``prime`` blocks (it makes the backend's first read: S3's GET): run it off
    the loop. It raises what the backend raises (``ObjectNotFound``,
    ``StorageError``), while the caller can still answer with any status. An
    unprimed response primes itself when sent, as a plain stream would."""

    def __init__(self, chunks: Iterator[bytes], **kwargs: Any) -> None:
        self._chunks = chunks
        self._first: bytes | None = None
        super().__init__(self._body(), **kwargs)

    def prime(self) -> None:
        if self._first is None:
            self._first = next(self._chunks, b"")

    def close(self) -> None:
        """Release the backend's reader (an S3 body) when the response is not sent."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def _body(self) -> Iterator[bytes]:
        self.prime()
        if self._first:
            yield self._first
        yield from self._chunks
