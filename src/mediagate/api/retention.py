"""``/v1/Accounts/{AC}/MediaRetention``: the account's retention rule (ours).

Twilio has no equivalent (its media lives until deleted, or with the message);
the form-encoded POST and the v1 JSON shape follow its other v1 resources.
Reading needs the settings-read permission, changing it settings-write (never
grantable to restricted keys), as for MessagingSettings.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate import permissions as perms
from mediagate.api.common import json_response, path_sid, route
from mediagate.auth import Principal
from mediagate.errors import BadRequest
from mediagate.http_common import bool_field, call, form, runtime, text_field
from mediagate.services import retention
from mediagate.timefmt import iso_z

FIELDS = ("DaysAfterCreation", "DaysAfterLastAccess", "AfterFirstDownload", "AfterWebhookDelivered")


def body(public_url: str, rule: retention.Rule) -> dict[str, object]:
    return {
        **retention.rule_fields(rule),
        "date_created": iso_z(rule.date_created),
        "date_updated": iso_z(rule.date_updated),
        "url": f"{public_url}{retention.resource_path(rule.account_sid)}",
    }


async def media_retention(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        data = await form(request)
        if not any(name in data for name in FIELDS):
            raise BadRequest(f"Give at least one of {', '.join(FIELDS)}.", code=20001)
        top = rt.settings.retention_max_days
        change = retention.Change(
            days_after_creation=retention.parse_days(
                "DaysAfterCreation", text_field(data, "DaysAfterCreation"), top
            ),
            days_after_last_access=retention.parse_days(
                "DaysAfterLastAccess", text_field(data, "DaysAfterLastAccess"), top
            ),
            after_first_download=bool_field(data, "AfterFirstDownload"),
            after_webhook_delivered=bool_field(data, "AfterWebhookDelivered"),
        )
        rule = await call(retention.set_rule, rt, account_sid, change, actor=who.actor, via="api")
    else:
        rule = await call(retention.get_rule, rt, account_sid)
    return json_response(body(rt.settings.public_url, rule))


routes = [
    route(
        "/v1/Accounts/{account_sid}/MediaRetention",
        media_retention,
        account="path",
        get=perms.SETTINGS_READ,
        post=perms.SETTINGS_WRITE,
    ),
]
