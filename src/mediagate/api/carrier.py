"""Our own endpoints for the inbound path (no Twilio equivalent):

* ``POST /v1/Carrier/Inbound``: the carrier-simulation ingress. Authenticated
  with a deployment-level *carrier credential* (``CR...``, made by
  ``mediagate carrier credentials create``), never a tenant's credential: a
  tenant could otherwise forge inbound messages with any ``From`` and a validly
  signed webhook. Fields ``To``, ``From``, ``Body`` and repeated ``MediaUrl``.
* ``GET /v1/Accounts/{AC}/WebhookDeliveries``: every webhook and its attempts.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate import auth
from mediagate import permissions as perms
from mediagate.api import representations as rep
from mediagate.api.common import authorization, json_response, list_response, path_sid, public, route
from mediagate.auth import Principal
from mediagate.carriers import ingress
from mediagate.errors import BadRequest, Unauthorized
from mediagate.http_common import call, form, query_dict, runtime, text_field
from mediagate.paging import parse_page_request
from mediagate.services import carrier_credentials, webhooks


async def carrier_inbound(request: Request) -> Response:
    rt = runtime(request)
    # The carrier credential first, before reading the body or saying whether ``To`` exists.
    creds = auth.parse_basic(authorization(request))
    if creds is None:
        raise Unauthorized()
    await call(carrier_credentials.verify, rt, *creds)
    data = await form(request)
    media_urls = data.getlist("MediaUrl")
    if any(not isinstance(u, str) for u in media_urls):
        raise BadRequest("MediaUrl must be a text field.", code=21620)
    inbound = ingress.Inbound(
        to=text_field(data, "To"),
        from_=text_field(data, "From"),
        body=text_field(data, "Body") or "",
        media_urls=[u for u in media_urls if isinstance(u, str)],
    )
    owner = await call(ingress.resolve_owner, rt, inbound.to)
    if inbound.media_urls:  # the receiving account's fetch slots, as for Messages.json
        message = await rt.fetch_gate.run(owner.account_sid, ingress.deliver, rt, owner, inbound)
    else:
        message = await call(ingress.deliver, rt, owner, inbound)
    return json_response(rep.message(message), 201)


async def list_deliveries(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    query = query_dict(request)
    req = parse_page_request(query)
    message_sid = query.get("MessageSid") or None
    page = await call(webhooks.page, rt, account_sid, message_sid, req)
    attempts = await call(webhooks.attempts_of, rt, [d.sid for d in page.rows])
    return list_response(
        request,
        req,
        page,
        list_key="webhook_deliveries",
        items=[
            rep.webhook_delivery(d, attempts[d.sid], show_media=who.allows(perms.MEDIA_READ))
            for d in page.rows
        ],
        filters={"MessageSid": message_sid} if message_sid else {},
    )


routes = [
    public(
        "/v1/Carrier/Inbound",
        carrier_inbound,
        ["POST"],
        why="a carrier credential (CR...), checked by the handler; never a tenant's",
    ),
    route(
        "/v1/Accounts/{account_sid}/WebhookDeliveries",
        list_deliveries,
        account="path",
        get=perms.MESSAGES_READ,
    ),
]
