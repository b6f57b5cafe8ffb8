"""``/v1/Accounts/{AC}/MessagingSettings``: the *Enforce HTTP Auth on Media URLs* switch.

Twilio exposes this only in its console; this small JSON resource is ours.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import accounts
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import forms
from mediagate.api.common import json_response, path_sid, route
from mediagate.api.representations import MessagingSettings
from mediagate.http.common import call, form, runtime


async def messaging_settings(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        asked = forms.parse(forms.MessagingSettingsForm, await form(request))
        current = await call(
            accounts.set_enforcement,
            rt,
            account_sid,
            asked.enforce_media_http_auth,
            actor=who.actor,
            via="api",
        )
    else:
        current = await call(accounts.messaging_settings, rt, account_sid)
    return json_response(MessagingSettings.of(rt.settings.public_url, current).body())


routes = [
    route(
        "/v1/Accounts/{account_sid}/MessagingSettings",
        messaging_settings,
        account="path",
        get=perms.SETTINGS_READ,
        post=perms.SETTINGS_WRITE,
    ),
]
