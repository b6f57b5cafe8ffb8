"""``.../Messages/{MM}/Media``: metadata, deletion and the content URL (the hot path)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import media_direct, testing
from mediagate.api import representations as rep
from mediagate.api.common import (
    authorization,
    checked_by,
    echoed,
    json_response,
    list_response,
    path_sid,
    route,
)
from mediagate.core.paging import Page, parse_page_request
from mediagate.edge import decide
from mediagate.edge.send import send_answer
from mediagate.http.common import call, hot, query_dict, runtime
from mediagate.media import media

_FILTERS = ("DateCreated", "DateCreated<", "DateCreated>")


async def list_media(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    message_sid = path_sid(request, "message_sid")
    query = query_dict(request)
    req = parse_page_request(query)
    rt = runtime(request)
    empty = await testing.media_list_fault(rt.testing, account_sid)  # test mode only: None otherwise
    page = await call(media.page, rt, account_sid, message_sid, query, req)
    if empty:
        page = Page([], False, False)
    return list_response(
        request,
        req,
        page,
        list_key="media_list",
        items=[rep.media(m) for m in page.rows],
        filters=echoed(query, _FILTERS),
    )


async def media_instance(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    message_sid = path_sid(request, "message_sid")
    media_sid = path_sid(request, "media_sid")
    rt = runtime(request)
    if request.method == "DELETE":
        await call(media.delete, rt, account_sid, message_sid, media_sid, actor=who.actor)
        return Response(status_code=204)
    return json_response(rep.media(await call(media.get, rt, account_sid, message_sid, media_sid)))


async def media_content(request: Request) -> Response:
    account_sid = path_sid(request, "account_sid")
    message_sid = path_sid(request, "message_sid")
    media_sid = path_sid(request, "media_sid")
    if await media_direct.wanted(request, account_sid):  # the account's MediaDelivery Mode=direct
        return await media_direct.content(request, account_sid, message_sid, media_sid)
    rt = runtime(request)
    args = (
        rt,
        account_sid,
        message_sid,
        media_sid,
        request.method,
        authorization(request),
        request.client.host if request.client else None,  # trusted-proxy resolved (core/proxies.py)
    )
    # The same decision as the RSGI fast path (edge/decide.content). A repeat
    # request is answered from memory on the loop (no database, no thread
    # hop); anything not remembered goes to the database off the loop, on the
    # hot paths' own threads (one stalled query must not freeze the process,
    # /healthz included).
    answer = decide.content(*args, memory_only=True)
    if answer is None:
        answer = await hot(rt, decide.content, *args, memory_only=False)
    assert answer is not None  # memory_only=False always decides
    # 307 keeps the method (HEAD stays HEAD); Twilio answers 307 in recent captures.
    return await send_answer(request, answer)


CONTENT_ROUTE = "media.content"
PREFIX = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media"
routes = [
    route(PREFIX + ".json", list_media, account="path", get=perms.MEDIA_READ),
    route(
        PREFIX + "/{media_sid}.json",
        media_instance,
        account="path",
        get=perms.MEDIA_READ,
        delete=perms.MEDIA_DELETE,
    ),
    # Anonymous requests may reach legacy (public) media, and the RSGI fast path
    # answers repeats without Starlette (finding the route by this name): the
    # media decision asks the authenticator.
    checked_by(
        PREFIX + "/{media_sid}",
        media_content,
        by="edge.decide.content: media.content_location (and its answer from memory)",
        get=media.CONTENT_PERMISSION,
        name=CONTENT_ROUTE,
    ),
]
