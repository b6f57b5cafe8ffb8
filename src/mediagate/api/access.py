"""Ours, no Twilio equivalent: early revocation and the media access audit.

* ``POST /v1/Accounts/{AC}/Media/{ME}/Revocations``: void every outstanding
  signed URL of one media (``media/revocation.py``).
* ``POST /v1/Accounts/{AC}/MediaRevocations``: the same for every media of the account.
* ``GET /v1/Accounts/{AC}/MediaAccessEvents[?MediaSid=ME...]``: who fetched
  what, when, and what we answered (``media/access_audit.py``), newest
  first, in Twilio's paging envelope.

Revoking needs the media-delete permission (it is the lighter cousin of a
delete); reading the audit needs media-read. Dates are ISO 8601, as in
Twilio's v1 APIs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import forms
from mediagate.api.common import json_response, list_response, path_sid, route
from mediagate.api.representations import MediaAccessEvent, Revocation
from mediagate.core.paging import parse_page_request
from mediagate.http.common import call, query_dict, runtime
from mediagate.media import access_audit, revocation


async def revoke_media(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    media_sid = path_sid(request, "media_sid")
    rt = runtime(request)
    done = await call(revocation.revoke_media, rt, account_sid, media_sid, actor=who.actor)
    return json_response(Revocation.of(rt.settings.public_url, done).body(), 201)


async def revoke_account(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    done = await call(revocation.revoke_account, rt, account_sid, actor=who.actor)
    return json_response(Revocation.of(rt.settings.public_url, done).body(), 201)


async def access_events(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    query = query_dict(request)
    media_sid = forms.parse(forms.MediaAccessEventQuery, query).media_sid
    req = parse_page_request(query)
    page = await call(access_audit.page, rt, account_sid, {"MediaSid": media_sid}, req)
    return list_response(
        request,
        req,
        page,
        list_key="media_access_events",
        items=[MediaAccessEvent.of(rt.settings.public_url, e).body() for e in page.rows],
        filters={"MediaSid": media_sid} if media_sid else {},
    )


routes = [
    route(
        "/v1/Accounts/{account_sid}/Media/{media_sid}/Revocations",
        revoke_media,
        account="path",
        post=perms.MEDIA_DELETE,
    ),
    route(
        "/v1/Accounts/{account_sid}/MediaRevocations", revoke_account, account="path", post=perms.MEDIA_DELETE
    ),
    route(
        "/v1/Accounts/{account_sid}/MediaAccessEvents", access_events, account="path", get=perms.MEDIA_READ
    ),
]
