"""Ours, no Twilio equivalent: early revocation and the media access audit.

* ``POST /v1/Accounts/{AC}/Media/{ME}/Revocations``: void every outstanding
  signed URL of one media (``services/revocation.py``).
* ``POST /v1/Accounts/{AC}/MediaRevocations``: the same for every media of the account.
* ``GET /v1/Accounts/{AC}/MediaAccessEvents[?MediaSid=ME...]``: who fetched
  what, when, and what we answered (``services/access_audit.py``), newest
  first, in Twilio's paging envelope.

Revoking needs the media-delete permission (it is the lighter cousin of a
delete); reading the audit needs media-read. Dates are ISO 8601, as in
Twilio's v1 APIs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mediagate import permissions as perms
from mediagate import sids
from mediagate.api.common import json_response, list_response, path_sid, route
from mediagate.auth import Principal
from mediagate.errors import BadRequest
from mediagate.http_common import call, query_dict, runtime
from mediagate.paging import parse_page_request
from mediagate.services import access_audit, revocation
from mediagate.services.records import AccessEventRecord
from mediagate.timefmt import iso_z


def _revocation(public_url: str, r: revocation.Revocation) -> dict[str, Any]:
    where = f"Media/{r.media_sid}/Revocations" if r.media_sid else "MediaRevocations"
    return {
        "account_sid": r.account_sid,
        "media_sid": r.media_sid,
        "scope": "media" if r.media_sid else "account",
        # Millisecond precision: it is compared with a URL's millisecond issue time.
        "revoked_before": datetime.fromtimestamp(r.revoked_before_ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "objects_moved": r.objects_moved,
        "url": f"{public_url}/v1/Accounts/{r.account_sid}/{where}",
    }


def _event(public_url: str, e: AccessEventRecord) -> dict[str, Any]:
    return {
        "sid": e.sid,
        "account_sid": e.account_sid,
        "media_sid": e.media_sid,
        "host": e.host,
        "method": e.method,
        "credential_kind": e.credential_kind,
        "credential_sid": e.credential_sid,
        "allowed": e.allowed,
        "reason": e.reason,
        "client_ip": e.client_ip,
        "count": e.count,
        "date_created": iso_z(e.date_created),
        "date_updated": iso_z(e.date_updated),
        "url": f"{public_url}/v1/Accounts/{e.account_sid}/MediaAccessEvents?MediaSid={e.media_sid}",
    }


async def revoke_media(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    media_sid = path_sid(request, "media_sid")
    rt = runtime(request)
    done = await call(revocation.revoke_media, rt, account_sid, media_sid, actor=who.actor)
    return json_response(_revocation(rt.settings.public_url, done), 201)


async def revoke_account(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    done = await call(revocation.revoke_account, rt, account_sid, actor=who.actor)
    return json_response(_revocation(rt.settings.public_url, done), 201)


async def access_events(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    query = query_dict(request)
    media_sid = query.get("MediaSid") or None
    if media_sid is not None and not sids.is_sid(media_sid, sids.MEDIA):
        raise BadRequest(
            f"Invalid MediaSid {media_sid[:40]!r}: expected ME followed by 32 hex digits.", code=20001
        )
    req = parse_page_request(query)
    page = await call(access_audit.page, rt, account_sid, {"MediaSid": media_sid}, req)
    return list_response(
        request,
        req,
        page,
        list_key="media_access_events",
        items=[_event(rt.settings.public_url, e) for e in page.rows],
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
