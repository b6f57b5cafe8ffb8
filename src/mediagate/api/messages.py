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
    # Answers at once, as Twilio does: MediaUrls are fetched afterwards by the
    # background fetch worker (messaging/media_fetches.py), in fair shares.
    message = await call(messages.create, rt, account_sid, new, actor=who.actor)
    # The carrier (loopback to a number owned here, or off-net) moves a message
    # without media on after the response; one with media once they are stored.
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
    if request.method == "POST":
        return await update_message(request, who, account_sid, message_sid)
    return json_response(rep.message(await call(messages.get, rt, account_sid, message_sid)))


async def update_message(request: Request, who: Principal, account_sid: str, message_sid: str) -> Response:
    """Twilio's UpdateMessage: ``Body=""`` redacts (messaging.messages.update)."""
    data = await form(request)
    change = messages.MessageUpdate(body=text_field(data, "Body"), status=text_field(data, "Status"))
    updated = await call(messages.update, runtime(request), account_sid, message_sid, change, actor=who.actor)
    return json_response(rep.message(updated))


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
        post=perms.MESSAGES_UPDATE,
        delete=perms.MESSAGES_DELETE,
    ),
]
