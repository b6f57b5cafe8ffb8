"""``/v1/Accounts/{AC}/MediaRetention``: the account's retention rule (ours).

Twilio has no equivalent (its media lives until deleted, or with the message);
the form-encoded POST and the v1 JSON shape follow its other v1 resources.
Reading needs the settings-read permission, changing it settings-write (never
grantable to restricted keys), as for MessagingSettings.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate import permissions as perms
from mediagate.api import forms
from mediagate.api.common import json_response, path_sid, principal
from mediagate.api.representations import MediaRetention
from mediagate.http_common import call, form, runtime
from mediagate.services import retention


async def media_retention(request: Request) -> Response:
    account_sid = path_sid(request, "account_sid")
    perm = perms.SETTINGS_WRITE if request.method == "POST" else perms.SETTINGS_READ
    who = await principal(request, account_sid, perm)
    rt = runtime(request)
    if request.method == "POST":
        asked = forms.parse(
            forms.MediaRetentionForm, await form(request), retention_max_days=rt.settings.retention_max_days
        )
        rule = await call(retention.set_rule, rt, account_sid, asked.change(), actor=who.actor, via="api")
    else:
        rule = await call(retention.get_rule, rt, account_sid)
    return json_response(MediaRetention.of(rt.settings.public_url, rule).body())


routes = [
    Route("/v1/Accounts/{account_sid}/MediaRetention", media_retention, methods=["GET", "POST"]),
]
