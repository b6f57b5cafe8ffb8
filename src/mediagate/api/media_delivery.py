"""``/v1/Accounts/{AC}/MediaDelivery``: how the content URL hands over media (ours).

``Mode=redirect`` (the default, Twilio's behaviour): a 307 to the media host.
``Mode=direct``: the content URL answers the bytes itself, auth still
required (``api/media_direct.py``). A separate resource so that the
MessagingSettings body keeps the shape its clients know.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import forms
from mediagate.api.common import json_response, path_sid, route
from mediagate.api.representations import MediaDelivery
from mediagate.http.common import call, form, runtime
from mediagate.media import direct_delivery


async def media_delivery(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        asked = forms.parse(forms.MediaDeliveryForm, await form(request))
        current = await call(direct_delivery.set_direct, rt, account_sid, asked.mode == "direct")
    else:
        current = await call(direct_delivery.get, rt, account_sid)
    return json_response(MediaDelivery.of(rt.settings.public_url, current).body())


routes = [
    route(
        "/v1/Accounts/{account_sid}/MediaDelivery",
        media_delivery,
        account="path",
        get=perms.SETTINGS_READ,
        post=perms.SETTINGS_WRITE,
    )
]
