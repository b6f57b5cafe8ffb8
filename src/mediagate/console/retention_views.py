"""Console page for the account's retention rule (``retention/rules.py``),
the same service the API (``/v1/Accounts/{AC}/MediaRetention``) and the CLI use."""

from __future__ import annotations

from starlette.responses import Response

from mediagate.accounts import permissions as perms
from mediagate.console.web import Ctx, _redirect
from mediagate.core.errors import BadRequest
from mediagate.retention import rules as retention


def settings_retention(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    error = None
    if ctx.request.method == "POST":
        top = rt.settings.retention_max_days
        try:
            change = retention.Change(
                days_after_creation=retention.parse_days(
                    "Days after creation", ctx.field("days_after_creation"), top
                ),
                days_after_last_access=retention.parse_days(
                    "Days after last access", ctx.field("days_after_last_access"), top
                ),
                # Checkboxes: absent means unchecked (the form always sends the days fields).
                after_first_download=ctx.field("after_first_download") == "on",
                after_webhook_delivered=ctx.field("after_webhook_delivered") == "on",
            )
            retention.set_rule(rt, sid, change, actor=ctx.who.actor, via="console")
            return _redirect("/console/messaging/settings/retention?done=saved")
        except BadRequest as exc:
            error = exc.message
    return ctx.render(
        "settings_retention.html",
        status=400 if error else 200,
        nav="settings",
        rule=retention.get_rule(rt, sid),
        history=retention.recent_batches(rt, sid),
        error=error,
        may_change=ctx.may(perms.SETTINGS_WRITE),
    )
