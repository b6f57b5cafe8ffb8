"""``/v1/Accounts/{AC}/MediaDelivery``: how the content URL hands over media (ours).

``Mode=redirect`` (the default, Twilio's behaviour): a 307 to the media host.
``Mode=direct``: the content URL answers the bytes itself, auth still
required (``api/media_direct.py``). A separate resource so that the
MessagingSettings body keeps the shape its clients know.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate import permissions as perms
from mediagate.api.common import json_response, path_sid, route
from mediagate.auth import Principal
from mediagate.errors import BadRequest
from mediagate.http_common import call, form, runtime, text_field
from mediagate.services import direct_delivery
from mediagate.timefmt import rfc2822

MODES = ("redirect", "direct")


def body(public_url: str, s: direct_delivery.DeliverySetting) -> dict[str, object]:
    return {
        "account_sid": s.account_sid,
        "mode": "direct" if s.direct else "redirect",
        "date_updated": rfc2822(s.date_updated),
        "url": f"{public_url}/v1/Accounts/{s.account_sid}/MediaDelivery",
    }


async def media_delivery(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        mode = (text_field(await form(request), "Mode") or "").strip().lower()
        if mode not in MODES:
            raise BadRequest("Mode is required: redirect or direct.", code=20001)
        current = await call(direct_delivery.set_direct, rt, account_sid, mode == "direct")
    else:
        current = await call(direct_delivery.get, rt, account_sid)
    return json_response(body(rt.settings.public_url, current))


routes = [
    route(
        "/v1/Accounts/{account_sid}/MediaDelivery",
        media_delivery,
        account="path",
        get=perms.SETTINGS_READ,
        post=perms.SETTINGS_WRITE,
    )
]
