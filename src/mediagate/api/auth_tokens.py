"""Twilio's accounts v1 auth-token rotation: ``/v1/AuthTokens/Secondary`` and ``/Promote``.

The account is the credential's own. Dates here are ISO 8601, as in Twilio's v1 APIs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import accounts
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api.common import json_response, route
from mediagate.core.timefmt import iso_z as iso  # whole seconds, as Twilio writes v1 dates
from mediagate.http.common import call, runtime


async def secondary(request: Request, who: Principal) -> Response:
    rt = runtime(request)
    if request.method == "DELETE":
        await call(accounts.delete_secondary_token, rt, who.account_sid, actor=who.actor)
        return Response(status_code=204)
    change = await call(accounts.create_secondary_token, rt, who.account_sid, actor=who.actor)
    return json_response(
        {
            "account_sid": change.account_sid,
            "date_created": iso(change.date_created),
            "date_updated": iso(change.date_updated),
            "secondary_auth_token": change.token,
            "url": f"{rt.settings.public_url}/v1/AuthTokens/Secondary",
        },
        201,
    )


async def promote(request: Request, who: Principal) -> Response:
    rt = runtime(request)
    change = await call(accounts.promote_secondary_token, rt, who.account_sid, actor=who.actor)
    return json_response(
        {
            "account_sid": change.account_sid,
            "auth_token": change.token,
            "date_created": iso(change.date_created),
            "date_updated": iso(change.date_updated),
            "url": f"{rt.settings.public_url}/v1/AuthTokens/Promote",
        }
    )


M = perms.MANAGE_ACCOUNTS
routes = [
    route("/v1/AuthTokens/Secondary", secondary, account="own", post=M, delete=M),
    route("/v1/AuthTokens/Promote", promote, account="own", post=M),
]
