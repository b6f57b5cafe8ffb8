"""The content URL without a redirect (``/v1/Accounts/{AC}/MediaDelivery``, Mode=direct).

``api/media.py`` dispatches here in one line; the answer is decided by
``edge/decide.direct`` (the redirect's credential check and audit, then the
bytes through the same ``serve`` as the media hosts: ETag/304, Range, HEAD,
security headers, active content as an attachment) and sent by
``edge/send.py``, so both ways of getting media behave the same.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.api.common import authorization
from mediagate.edge import decide
from mediagate.edge.hosts import client_of, conditions
from mediagate.edge.send import send_answer
from mediagate.http.common import hot, on_store, runtime


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


async def content(request: Request, account_sid: str, message_sid: str, media_sid: str) -> Response:
    rt = runtime(request)
    args = (
        rt,
        account_sid,
        message_sid,
        media_sid,
        request.method,
        authorization(request),
        conditions(request),
        client_of(request),  # for the access audit
    )
    # From memory on the loop when it can (the RSGI fast path asks the same),
    # otherwise off the loop with the database and the store.
    answer = decide.direct(*args, memory_only=True)
    if answer is None:
        answer = await on_store(rt, decide.direct, *args, memory_only=False)  # reads the store
    assert answer is not None  # memory_only=False always decides
    return await send_answer(request, answer)
