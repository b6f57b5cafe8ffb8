"""Serving stored bytes safely: Range, HEAD, ETag, and no active content.

Like Synapse's media repository, only an allowlist of image/audio/video
types is ever shown inline; everything else (SVG and HTML included: both
can run script) is an attachment, and every response carries ``nosniff``
and a sandboxing CSP so that even a mislabelled file cannot act with the
origin's authority.

``respond`` reads the first bytes of a streamed object before it commits to
a status (``PrimedStream``): it raises ``ObjectNotFound`` when the object
vanished since it was opened (a delete racing the download) and
``StorageError`` when the store fails, so the caller answers 404 or 503
instead of a 200 that breaks off.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from mediagate.edge.ranges import PrimedStream, RangeError, blob_response, parse_range
from mediagate.http_common import hot, runtime
from mediagate.services.disposition import INLINE_TYPES as INLINE_TYPES
from mediagate.services.disposition import content_disposition
from mediagate.services.disposition import served_filename as served_filename
from mediagate.services.media import Prepared

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; "
    "style-src 'unsafe-inline'; sandbox",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


@functools.lru_cache(maxsize=8)
def accel_for(prefix: str) -> str | None:
    """``None`` when the setting is off (X-Accel-Redirect needs files under the store's root)."""
    return prefix or None


async def respond(
    request: Request,
    prepared: Prepared,
    *,
    cache_control: str,
    stem: str,
    accel: str | None = None,
    attachment: bool = False,
) -> Response:
    obj, blob = prepared.obj, prepared.blob
    etag = f'"{obj.sha256}"'
    headers = {
        **SECURITY_HEADERS,
        "ETag": etag,
        "Cache-Control": cache_control,
        "Content-Disposition": content_disposition(obj, stem, attachment=attachment),
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    range_header = request.headers.get("range")
    if range_header is not None:
        try:
            parse_range(range_header)
        except RangeError as exc:
            return JSONResponse(
                {"status": 400, "reason": "bad_range", "message": f"Range header: {exc}."},
                status_code=400,
                headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
            )
    if accel is not None and blob.relative_path is not None:
        # The front nginx sends the file (sendfile, Range, HEAD) from an
        # `internal` location; everything decided here travels in the
        # headers. Our own body is empty (Content-Length: 0); nginx does not
        # copy that header and sends the file's length instead.
        headers["X-Accel-Redirect"] = _accel_target(accel, blob.relative_path)
        return Response(status_code=200, headers=headers, media_type=obj.content_type)
    if blob.local_path is not None:
        # FileResponse streams in chunks and implements Range/If-Range/HEAD
        # (206, multipart ranges, 416) from Starlette, so we do not.
        return FileResponse(
            blob.local_path, headers=headers, media_type=obj.content_type, stat_result=blob.local_stat
        )
    # Any other backend (S3, sealed): our own Range/HEAD over the blob's ranged reads.
    response = blob_response(request, blob, headers, obj.content_type)
    if isinstance(response, PrimedStream):
        try:
            await hot(runtime(request), response.prime)  # the backend's first read, off the loop
        except BaseException:
            response.close()
            raise
    return response


def _accel_target(prefix: str, relative_path: str) -> str:
    return f"{prefix}/{quote(relative_path)}"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in candidates or etag in candidates
