"""``/2010-04-01/Accounts/{AC}/Messages``."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from mediagate import carriers
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import representations as rep
from mediagate.api.common import echoed, json_response, list_response, path_sid, route
from mediagate.core.errors import BadRequest
from mediagate.core.paging import parse_page_request
from mediagate.http.common import call, form, query_dict, runtime, text_field
from mediagate.messaging import messages, test_credentials

_FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


async def create_message(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    data = await form(request)
    media_urls = data.getlist("MediaUrl")
    if any(not isinstance(u, str) for u in media_urls):
        raise BadRequest("MediaUrl must be a text field.", code=21620)
    new = messages.NewMessage(
        to=text_field(data, "To"),
        from_=text_field(data, "From"),
        body=text_field(data, "Body") or "",
        media_urls=[u for u in media_urls if isinstance(u, str)],
        status_callback=text_field(data, "StatusCallback"),
    )
    rt = runtime(request)
    if who.is_test:  # Twilio's test credentials: magic numbers, nothing fetched, sent or stored
        return json_response(rep.message(await call(test_credentials.message, rt, account_sid, new)), 201)
    if new.media_urls:
        # Fetching runs in one of this account's fetch slots, off the threads the
        # other routes share (media/fetch_limits.py); 429 when none is free.
        message = await rt.fetch_gate.run(account_sid, messages.create, rt, account_sid, new, actor=who.actor)
    else:
        message = await call(messages.create, rt, account_sid, new, actor=who.actor)
    # The carrier (loopback to a number owned here, or off-net) moves the message on
    # after the response; it also reports a creation failure to the StatusCallback.
    task = BackgroundTask(carriers.dispatch, rt, message.sid)
    return Response(
        content=json_response(rep.message(message), 201).body,
        status_code=201,
        media_type="application/json",
        background=task,
    )


async def list_messages(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    query = query_dict(request)
    req = parse_page_request(query)
    page = await call(messages.page, runtime(request), account_sid, query, req)
    return list_response(
        request,
        req,
        page,
        list_key="messages",
        items=[rep.message(m) for m in page.rows],
        filters=echoed(query, _FILTERS),
    )


async def message_instance(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    message_sid = path_sid(request, "message_sid")
    rt = runtime(request)
    if request.method == "DELETE":
        await call(messages.delete_message, rt, account_sid, message_sid, actor=who.actor)
        return Response(status_code=204)
    return json_response(rep.message(await call(messages.get, rt, account_sid, message_sid)))


async def messages_collection(request: Request, who: Principal) -> Response:
    # One route for both methods, so that a 405 (e.g. PUT) lists GET and POST in Allow;
    # with two routes Starlette answered from the first and advertised only GET.
    if request.method == "POST":
        return await create_message(request, who)
    return await list_messages(request, who)


PREFIX = "/2010-04-01/Accounts/{account_sid}/Messages"
routes = [
    route(
        PREFIX + ".json",
        messages_collection,
        account="path",
        get=perms.MESSAGES_READ,
        post=perms.MESSAGES_CREATE,
        test_credentials=("POST",),
    ),
    route(
        PREFIX + "/{message_sid}.json",
        message_instance,
        account="path",
        get=perms.MESSAGES_READ,
        delete=perms.MESSAGES_DELETE,
    ),
]
