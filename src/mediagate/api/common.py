"""What the API routes share beyond http_common: sids from the path, the one Authorization
header, the principal, Twilio's JSON and list envelope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mediagate import auth, sids
from mediagate.auth import Principal
from mediagate.errors import BadRequest
from mediagate.http_common import call, runtime
from mediagate.paging import Page, PageRequest, envelope

_SID_NAMES = {
    "account_sid": ("AccountSid", (sids.ACCOUNT,)),
    "message_sid": ("MessageSid", (sids.SMS, sids.MMS)),
    "media_sid": ("Sid", (sids.MEDIA,)),
    "key_sid": ("Sid", (sids.KEY,)),
    "number_sid": ("Sid", (sids.PHONE_NUMBER,)),
}


def path_sid(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    label, prefixes = _SID_NAMES[name]
    if not sids.is_sid(value, *prefixes):
        raise BadRequest(
            f"Invalid {label} {value[:40]!r}: expected {' or '.join(prefixes)} followed by 32 hex digits.",
            code=20001,
        )
    return value


def authorization(request: Request) -> str | None:
    """The request's one ``Authorization`` header. Several are ambiguous (which one
    would a proxy, a log or a WAF in front of us have checked?), so they are refused
    rather than letting the first one win."""
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise BadRequest("Send exactly one Authorization header.", code=20001)
    return values[0] if values else None


async def principal(request: Request, account_sid: str, permission: str | None = None) -> Principal:
    """The one auth dependency: a frozen principal allowed to act on ``account_sid``
    (and, when given, holding ``permission``); 401/403 otherwise."""
    rt = runtime(request)
    header = authorization(request)

    def check() -> Principal:
        with rt.sessions() as session:
            return auth.require(session, rt.keyring, header, account_sid, permission)

    return await call(check)


async def authenticated(request: Request, permission: str, reach: str | None = None) -> Principal:
    """For resources whose path names no account (accounts v1, IAM) or that must
    also see suspended subaccounts: a valid credential holding ``permission``
    that, when ``reach`` is given, reaches that account whatever its status."""
    rt = runtime(request)
    header = authorization(request)

    def check() -> Principal:
        with rt.sessions() as session:
            found = auth.authenticate(session, rt.keyring, header)
            if reach is not None and not auth.can_reach(session, found, reach):
                raise auth.denied("no_access")
            auth.require_permission(found, permission)
            return found

    return await call(check)


def json_response(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def list_response(
    request: Request,
    req: PageRequest,
    page: Page,
    *,
    list_key: str,
    items: list[dict[str, Any]],
    filters: Mapping[str, str] | None = None,
) -> Response:
    """A Twilio list page for this request's path; ``filters`` are echoed into the page URIs."""
    return json_response(
        envelope(
            path=request.url.path,
            filters=filters or {},
            req=req,
            page=page,
            list_key=list_key,
            items=items,
            current_query=request.url.query,
        )
    )


def echoed(query: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {k: query[k] for k in names if query.get(k)}
