"""``/v1/Accounts/{AC}/MessagingSettings``: the *Enforce HTTP Auth on Media URLs* switch.

Twilio exposes this only in its console; this small JSON resource is ours.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate import permissions as perms
from mediagate.api.common import json_response, path_sid, route
from mediagate.auth import Principal
from mediagate.errors import BadRequest
from mediagate.http_common import bool_field, call, form, runtime
from mediagate.services import accounts
from mediagate.timefmt import rfc2822


def body(rt_public_url: str, s: accounts.MessagingSettings) -> dict[str, object]:
    return {
        "account_sid": s.account_sid,
        "enforce_media_http_auth": s.enforce_media_http_auth,
        "date_updated": rfc2822(s.date_updated),
        "url": f"{rt_public_url}/v1/Accounts/{s.account_sid}/MessagingSettings",
    }


async def messaging_settings(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        data = await form(request)
        enabled = bool_field(data, "EnforceMediaHttpAuth")
        if enabled is None:
            raise BadRequest("EnforceMediaHttpAuth is required (true or false).", code=20001)
        current = await call(accounts.set_enforcement, rt, account_sid, enabled, actor=who.actor, via="api")
    else:
        current = await call(accounts.messaging_settings, rt, account_sid)
    return json_response(body(rt.settings.public_url, current))


routes = [
    route(
        "/v1/Accounts/{account_sid}/MessagingSettings",
        messaging_settings,
        account="path",
        get=perms.SETTINGS_READ,
        post=perms.SETTINGS_WRITE,
    ),
]
