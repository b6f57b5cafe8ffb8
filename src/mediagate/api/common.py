"""What every API route shares: the runtime, sids from the path, forms, auth, JSON."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mediagate import auth, sids
from mediagate.auth import Principal
from mediagate.context import Runtime
from mediagate.errors import BadRequest
from mediagate.inputs import canonical_int, check_text
from mediagate.paging import Page, PageRequest, envelope

P = ParamSpec("P")
R = TypeVar("R")

MAX_FORM_BYTES = 256 * 1024

_SID_NAMES = {
    "account_sid": ("AccountSid", (sids.ACCOUNT,)),
    "message_sid": ("MessageSid", (sids.SMS, sids.MMS)),
    "media_sid": ("Sid", (sids.MEDIA,)),
    "key_sid": ("Sid", (sids.KEY,)),
    "number_sid": ("Sid", (sids.PHONE_NUMBER,)),
}


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def path_sid(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    label, prefixes = _SID_NAMES[name]
    if not sids.is_sid(value, *prefixes):
        raise BadRequest(
            f"Invalid {label} {value[:40]!r}: expected {' or '.join(prefixes)} followed by 32 hex digits.",
            code=20001,
        )
    return value


async def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking service code (database, disk, media fetch) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def authorization(request: Request) -> str | None:
    """The request's one ``Authorization`` header. Several are ambiguous (which one
    would a proxy, a log or a WAF in front of us have checked?), so they are refused
    rather than letting the first one win."""
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise BadRequest("Send exactly one Authorization header.", code=20001)
    return values[0] if values else None


_hot_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def hot(rt: Runtime, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking code of a hot path (content redirect, media hosts) off the
    event loop, on threads of its own (``MEDIAGATE_HOT_PATH_THREADS``).

    On the loop, one stalled query froze every request of the process,
    ``/healthz`` included. The default threadpool is shared with every other
    route, so a burst there (or a stall of those routes) would starve the hot
    paths; a separate limiter keeps each side's capacity its own."""
    # One limiter per event loop (a server has one; in-process tests make several).
    loop = asyncio.get_running_loop()
    limiter = _hot_limiters.get(loop)
    if limiter is None:
        limiter = _hot_limiters[loop] = anyio.CapacityLimiter(rt.settings.hot_path_threads)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)


async def principal(request: Request, account_sid: str, permission: str | None = None) -> Principal:
    """The one auth dependency: a frozen principal allowed to act on ``account_sid``
    (and, when given, holding ``permission``); 401/403 otherwise."""
    rt = runtime(request)
    header = authorization(request)

    def check() -> Principal:
        with rt.sessions() as session:
            return auth.require(session, rt.keyring, header, account_sid, permission)

    return await call(check)


async def authenticated(request: Request, permission: str, reach: str | None = None) -> Principal:
    """For resources whose path names no account (accounts v1, IAM) or that must
    also see suspended subaccounts: a valid credential holding ``permission``
    that, when ``reach`` is given, reaches that account whatever its status."""
    rt = runtime(request)
    header = authorization(request)

    def check() -> Principal:
        with rt.sessions() as session:
            found = auth.authenticate(session, rt.keyring, header)
            if reach is not None and not auth.can_reach(session, found, reach):
                raise auth.denied("no_access")
            auth.require_permission(found, permission)
            return found

    return await call(check)


async def form(request: Request) -> FormData:
    length = request.headers.get("content-length")
    if length is not None and (
        (size := canonical_int(length.strip(), max_digits=12)) is None or size > MAX_FORM_BYTES
    ):
        raise BadRequest(f"Request body must be at most {MAX_FORM_BYTES} bytes.", code=20001)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and ctype not in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "",
    ):
        raise BadRequest("Send parameters as application/x-www-form-urlencoded.", code=20001)
    # Content-Length is absent with chunked transfer encoding, so the check above
    # alone let bodies of any size through (up to Starlette's 1 MB per field):
    # count the bytes that actually arrive and stop at the limit. ``request.form``
    # then parses the buffered body (Starlette's stream() replays ``_body``).
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_FORM_BYTES:
            raise BadRequest(f"Request body must be at most {MAX_FORM_BYTES} bytes.", code=20001)
    request._body = bytes(received)
    try:
        data = await request.form(max_files=0, max_fields=200)
    except Exception as exc:
        raise BadRequest("The request body could not be parsed as a form.", code=20001) from exc
    for name, value in data.multi_items():
        _check_pair(name, value if isinstance(value, str) else "")
    return data


def _check_pair(name: str, value: str) -> None:
    """The one gate for client text (form fields and query parameters): a NUL or
    a lone surrogate in any name or value is a 400 here, before any service
    stores it or PostgreSQL refuses it with a 500."""
    check_text(name, "A parameter name")
    check_text(value, name)


def text_field(data: FormData, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a text field.", code=20001)
    return value


def bool_field(data: FormData, name: str) -> bool | None:
    raw = text_field(data, name)
    if raw is None:
        return None
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on", "enable", "enabled"):
        return True
    if lowered in ("false", "0", "no", "off", "disable", "disabled"):
        return False
    raise BadRequest(f"{name} must be true or false.", code=20001)


def query_dict(request: Request) -> dict[str, str]:
    for name, value in request.query_params.multi_items():
        _check_pair(name, value)
    return dict(request.query_params)


def json_response(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def list_response(
    request: Request,
    req: PageRequest,
    page: Page,
    *,
    list_key: str,
    items: list[dict[str, Any]],
    filters: Mapping[str, str] | None = None,
) -> Response:
    """A Twilio list page for this request's path; ``filters`` are echoed into the page URIs."""
    return json_response(
        envelope(
            path=request.url.path,
            filters=filters or {},
            req=req,
            page=page,
            list_key=list_key,
            items=items,
            current_query=request.url.query,
        )
    )


def echoed(query: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {k: query[k] for k in names if query.get(k)}
