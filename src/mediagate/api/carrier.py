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

from mediagate import webhooks
from mediagate.accounts import auth
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import forms
from mediagate.api import representations as rep
from mediagate.api.common import authorization, json_response, list_response, path_sid, public, route
from mediagate.carriers import ingress
from mediagate.core.errors import Unauthorized
from mediagate.core.paging import parse_page_request
from mediagate.http.common import call, form, query_dict, runtime
from mediagate.messaging import carrier_credentials


async def carrier_inbound(request: Request) -> Response:
    rt = runtime(request)
    # The carrier credential first, before reading the body or saying whether ``To`` exists.
    creds = auth.parse_basic(authorization(request))
    if creds is None:
        raise Unauthorized()
    await call(carrier_credentials.verify, rt, *creds)
    asked = forms.parse(forms.CarrierInboundForm, await form(request))
    inbound = ingress.Inbound(to=asked.to, from_=asked.from_, body=asked.body, media_urls=asked.media_urls)
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
    message_sid = forms.parse(forms.WebhookDeliveryQuery, query).message_sid
    page = await call(webhooks.page, rt, account_sid, message_sid, req)
    attempts = await call(webhooks.attempts_of, rt, [d.sid for d in page.rows])
    return list_response(
        request,
        req,
        page,
        list_key="webhook_deliveries",
        items=[
            rep.WebhookDelivery.of(d, attempts[d.sid], show_media=who.allows(perms.MEDIA_READ)).body()
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
