"""``/v1/Accounts/{AC}/MediaRetention``: the account's retention rule (ours).

Twilio has no equivalent (its media lives until deleted, or with the message);
the form-encoded POST and the v1 JSON shape follow its other v1 resources.
Reading needs the settings-read permission, changing it settings-write (never
grantable to restricted keys), as for MessagingSettings.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import forms
from mediagate.api.common import json_response, path_sid, route
from mediagate.api.representations import MediaRetention
from mediagate.http.common import call, form, runtime
from mediagate.retention import rules as retention


async def media_retention(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
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
    route(
        "/v1/Accounts/{account_sid}/MediaRetention",
        media_retention,
        account="path",
        get=perms.SETTINGS_READ,
        post=perms.SETTINGS_WRITE,
    ),
]
