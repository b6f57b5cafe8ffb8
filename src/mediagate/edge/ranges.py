"""Range, If-Range and HEAD for objects that are not local files (S3).

Local files go through Starlette's ``FileResponse``; this gives any other
backend's ``Blob`` the same answers for the cases clients use: one byte
range (``a-b``, ``a-``, ``-n``) → 206 with ``Content-Range``; a start at or
past the end → 416 ``bytes */size``; a malformed header → 400 (as
``FileResponse``); an ``If-Range`` that is not our current ETag → the whole
object. Several ranges in one request get the whole object (200), which
RFC 9110 allows (a server may ignore Range); multipart/byteranges is the only
thing the local path does that this one does not.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from mediagate.storage import Blob


class _Malformed(Exception):
    pass


def _parse(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive), ``None`` for "send it all"; raises ``_Malformed``,
    or ``ValueError`` for a range that cannot be satisfied."""
    units, _, spec = header.partition("=")
    if units.strip().lower() != "bytes" or not spec.strip():
        raise _Malformed
    if "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if (
        not dash
        or not (first or last)
        or not (first.isdigit() or not first)
        or not (last.isdigit() or not last)
    ):
        raise _Malformed
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise ValueError
        return max(size - n, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise ValueError
    if end < start:
        raise _Malformed
    return start, end


def blob_response(request: Request, blob: Blob, headers: dict[str, str], media_type: str) -> Response:
    headers = {**headers, "Accept-Ranges": "bytes"}
    span: tuple[int, int] | None = None
    header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if header is not None and (if_range is None or if_range == headers.get("ETag")):
        try:
            span = _parse(header, blob.size)
        except _Malformed:
            return PlainTextResponse("Malformed range header.", status_code=400)
        except ValueError:
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

    def body() -> Iterator[bytes]:
        if blob.size:
            yield from blob.stream(start, end)

    return StreamingResponse(body(), status_code=status, headers=headers, media_type=media_type)
