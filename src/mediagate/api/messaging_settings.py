"""``/v1/Accounts/{AC}/MessagingSettings``: the *Enforce HTTP Auth on Media URLs* switch.

Twilio exposes this only in its console; this small JSON resource is ours.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate import permissions as perms
from mediagate.api import forms
from mediagate.api.common import json_response, path_sid, principal
from mediagate.api.representations import MessagingSettings
from mediagate.http_common import call, form, runtime
from mediagate.services import accounts


async def messaging_settings(request: Request) -> Response:
    account_sid = path_sid(request, "account_sid")
    perm = perms.SETTINGS_WRITE if request.method == "POST" else perms.SETTINGS_READ
    who = await principal(request, account_sid, perm)
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
    Route("/v1/Accounts/{account_sid}/MessagingSettings", messaging_settings, methods=["GET", "POST"]),
]
