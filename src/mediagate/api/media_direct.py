"""The content URL without a redirect (``/v1/Accounts/{AC}/MediaDelivery``, Mode=direct).

``api/media.py`` dispatches here in one line; everything about answering
bytes is the secured host's own code (``edge/serve.py``: ETag/304, Range via
``edge/ranges.py`` or ``FileResponse``, HEAD, security headers, active content
as an attachment), so both ways of getting media behave the same.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.api.common import authorization
from mediagate.context import Runtime
from mediagate.edge.serve import accel_for, respond
from mediagate.errors import NotFound
from mediagate.http_common import hot, runtime
from mediagate.services import media


async def wanted(request: Request, account_sid: str) -> bool:
    """Direct delivery for this request: the account asked for it and the caller
    sent credentials. Anonymous requests keep the redirect path (its 401, or
    the public host for legacy media), so nothing is ever served here without auth."""
    if not request.headers.get("authorization"):
        return False
    rt = runtime(request)
    if not rt.direct_accounts.fresh():
        await hot(rt, rt.direct_accounts.load, rt)
    return rt.direct_accounts.cached(account_sid)


def _prepared(rt: Runtime, account_sid: str, message_sid: str, media_sid: str) -> media.Prepared:
    obj = media.edge_object(rt, account_sid, media_sid)
    prepared = media.prepare(rt, obj) if obj is not None else None
    if prepared is None:  # deleted between the check and now
        raise NotFound(media.media_path(account_sid, message_sid, media_sid, ""))
    return prepared


async def content(request: Request, account_sid: str, message_sid: str, media_sid: str) -> Response:
    rt = runtime(request)
    # The redirect's own decision first: the same credential check, 401/404 and
    # audit line; its URL is not used.
    await hot(
        rt,
        media.content_location,
        rt,
        account_sid,
        message_sid,
        media_sid,
        authorization(request),
        method=request.method,
        client=request.client.host if request.client else None,  # for the access audit
    )
    prepared = await hot(rt, _prepared, rt, account_sid, message_sid, media_sid)
    try:
        return await respond(
            request,
            prepared,
            # Authenticated bytes: no shared cache may keep them; the client may, and
            # revalidates with If-None-Match (a 304 after the same checks).
            cache_control="private, no-cache",
            stem=media_sid,
            accel=accel_for(rt.settings.accel_redirect_prefix),
        )
    except media.ObjectNotFound:  # deleted after it was opened, before its first byte was read
        raise NotFound(media.media_path(account_sid, message_sid, media_sid, "")) from None
