"""What a media request is answered: a value both transports send unchanged.

An ``Answer`` is decided once (``edge/decide.py``) and sent by whichever
transport received the request: Starlette (``edge/send.py``) or the RSGI fast
path (``serving/fast.py``). It holds the status, the *final* header list (the
transports add nothing but ``x-request-id`` and, on Starlette, ``date``), the
body, and the access event to record once the answer is on its way. Holding
the headers as one list, built here, is what keeps the two transports from
drifting: the fast path used to rebuild them and lost ``Last-Modified`` and the
``charset`` Starlette adds to ``text/*`` types.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

from mediagate.core.errors import ApiError
from mediagate.edge.serve import SECURITY_HEADERS
from mediagate.media.disposition import content_disposition
from mediagate.media.media import EdgeObject

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

Headers = list[tuple[str, str]]

_SECURITY: Headers = [(name.lower(), value) for name, value in SECURITY_HEADERS.items()]

# What each host lets caches do with the bytes (the one place these strings live).
SIGNED_CACHE = "private, max-age=300"  # the URL itself expires; a browser may reuse it meanwhile
# Shared caches may store public media but must revalidate on every use (a cheap
# 304 thanks to the ETag): with max-age=300 a CDN kept serving media for five
# minutes after it was deleted, secured, or its account suspended.
PUBLIC_CACHE = "public, no-cache"
# Authenticated bytes (direct delivery): no shared cache may keep them; the
# client may, and revalidates with If-None-Match (a 304 after the same checks).
DIRECT_CACHE = "private, no-cache"


class AccessEvent(NamedTuple):
    """One durable access record (``media/access_audit.py``): who asked for
    which media on which host, and what they got. Never the signature or URL."""

    host: str  # "secure" | "public" | "api"
    account_sid: str
    media_sid: str
    method: str
    credential: tuple[str, str | None]
    ok: bool
    why: str
    client: str | None


class Answer(NamedTuple):
    """The content is ``body``, or the bytes ``span`` (inclusive) that ``read``
    yields from the store; ``file`` is also set when they are a whole plain
    local file, which a server may open and send itself. A HEAD answer has the
    GET's headers and no content at all."""

    status: int
    headers: Headers
    body: bytes = b""
    file: str | None = None
    read: Callable[[int, int | None], Iterator[bytes]] | None = None
    span: tuple[int, int] = (0, -1)
    event: AccessEvent | None = None
    # What to send instead when the bytes vanish before the first one is read
    # (a delete racing the download): a transport that reads first can still
    # answer 404. Built only then: a served answer should not pay for it.
    gone: Callable[[], Answer] | None = None


def record(rt: Runtime, answer: Answer) -> None:
    """The answer's bookkeeping, once it is sent: the durable access event (an
    enqueue) and, for media served, the in-memory access retention reads."""
    event = answer.event
    if event is None:
        return
    rt.access_audit.record(*event)  # the fields in the order ``record`` takes them
    if event.ok:
        rt.access.served(event.account_sid, event.media_sid, event.method, answer.status)


@functools.lru_cache(maxsize=64)
def _problem_body(status: int, reason: str, message: str) -> tuple[bytes, Headers]:
    body = json.dumps(
        {"status": status, "reason": reason, "message": message}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    return body, [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("content-length", str(len(body))),
        ("content-type", "application/json"),
    ]


def problem(status: int, reason: str, message: str, event: AccessEvent | None = None) -> Answer:
    """A media host's refusal: a small JSON body nobody may cache."""
    body, headers = _problem_body(status, reason, message)
    return Answer(status, list(headers), body, event=event)


def api_error(exc: ApiError) -> Answer:
    """An API error as the API's handler renders it (``app._api_error``; a
    404 here: no extra headers): for direct delivery, which answers on the API."""
    body = json.dumps(exc.body(), ensure_ascii=False, separators=(",", ":")).encode()
    return Answer(
        exc.status, [("content-length", str(len(body))), ("content-type", "application/json")], body
    )


def bad_range(message: str, event: AccessEvent | None) -> Answer:
    body = json.dumps(
        {"status": 400, "reason": "bad_range", "message": f"Range header: {message}."},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return Answer(
        400,
        [
            *_SECURITY,
            ("cache-control", "no-store"),
            ("content-length", str(len(body))),
            ("content-type", "application/json"),
        ],
        body,
        event=event,
    )


def redirect(location: str) -> Answer:
    """The content URL's 307 (it keeps the method: HEAD stays HEAD)."""
    return Answer(307, [("location", location), ("cache-control", "no-store"), ("content-length", "0")])


def content_type(stored: str) -> str:
    # Starlette's rule, applied by us for both transports: a text type without
    # a charset is announced as UTF-8 (a vCard or a plain text part).
    if stored.startswith("text/") and "charset=" not in stored.lower():
        return stored + "; charset=utf-8"
    return stored


def accel_target(prefix: str, relative_path: str) -> str:
    return f"{prefix}/{quote(relative_path)}"


@functools.lru_cache(maxsize=4096)
def http_date(seconds: int) -> str:
    # formatdate costs microseconds; files share few distinct mtimes per second.
    return formatdate(seconds, usegmt=True)


_DISPOSITIONS: dict[tuple[str | None, str, str, bool], str] = {}


def disposition(obj: EdgeObject, stem: str, attachment: bool) -> str:
    # The filename rules cost a few microseconds: remembered per (name, type,
    # stem, kind); bounded, and cleared whole when full.
    key = (obj.filename, obj.content_type, stem, attachment)
    found = _DISPOSITIONS.get(key)
    if found is None:
        if len(_DISPOSITIONS) > 20_000:
            _DISPOSITIONS.clear()
        found = content_disposition(obj.filename, obj.content_type, stem, attachment=attachment)
        _DISPOSITIONS[key] = found
    return found


def media_headers(
    obj: EdgeObject, etag: str, cache_control: str, stem: str, attachment: bool, last_modified: str | None
) -> Headers:
    """The headers every answer about a media's bytes starts with (200, 206,
    304, 416): the security headers, the validators, caching and disposition."""
    headers = [
        *_SECURITY,
        ("etag", etag),
        ("cache-control", cache_control),
        ("content-disposition", disposition(obj, stem, attachment)),
    ]
    if last_modified is not None:
        headers.append(("last-modified", last_modified))
    return headers
