"""What the API routes share beyond http_common: sids from the path, the one Authorization
header, the routes' declared access (checked before any handler runs), Twilio's JSON and
list envelope."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.accounts import auth
from mediagate.accounts.auth import Principal
from mediagate.api import forms
from mediagate.core import sids
from mediagate.core.errors import BadRequest
from mediagate.core.paging import Page, PageRequest, envelope
from mediagate.http.common import call, form, query_dict, runtime

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


# --------------------------------------------------------------------------- declared access
#
# Every API route says in the route table what it needs, as the console's do
# (console/routes.py): where the account acted on comes from and, per method,
# the permission (mediagate.accounts.permissions). ``ApiRoute``'s wrapper checks it once,
# before the handler runs, and hands the handler the principal; no handler
# decides whether it may run. tests/unit/test_api_routes.py walks every route.

# Where the account a request acts on comes from:
# * "path": the ``account_sid`` path parameter; a subaccount only while active;
# * "path-any-status": the same, whatever the subaccount's status (accounts v1:
#   the parent must see, and reactivate, a suspended subaccount);
# * "own": the credential's own account (the path names none);
# * "parameter": the ``AccountSid`` form field (POST) or query parameter (GET),
#   any status (IAM keys): it is read, and a malformed one refused, before the credential.
AccountFrom = Literal["path", "path-any-status", "own", "parameter"]
ACCOUNT_SOURCES: Final[tuple[AccountFrom, ...]] = get_args(AccountFrom)

Checked = Callable[[Request, Principal], Awaitable[Response]]
Plain = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Access:
    """What a route needs. ``checked_by`` is ``None`` when ``ApiRoute``'s wrapper
    checks it; otherwise it says who does, and why not here."""

    account: AccountFrom | None  # None: no tenant account (public, or another credential)
    needs: Mapping[str, str | None]  # HTTP method -> permission (None: none)
    checked_by: str | None = None
    # The methods that take Twilio's test credentials (accounts/test_credentials.py);
    # every other request made with them is refused 403 / 20008 by the authenticator.
    test_credentials: frozenset[str] = frozenset()


class ApiRoute(Route):
    """A Starlette route that carries its ``Access`` declaration."""

    def __init__(self, path: str, endpoint: Plain, access: Access, *, name: str | None = None) -> None:
        methods = [m for m in access.needs if m != "HEAD"]
        super().__init__(path, endpoint, methods=methods, name=name)
        self.access = access


def _needs(get: str | None, post: str | None, delete: str | None) -> dict[str, str | None]:
    needs = {m: p for m, p in (("GET", get), ("POST", post), ("DELETE", delete)) if p is not None}
    if "GET" in needs:
        needs["HEAD"] = needs["GET"]  # Starlette answers HEAD wherever it answers GET
    return dict(needs)


def _path_sids(path: str) -> tuple[str, ...]:
    names = tuple(re.findall(r"{(\w+)(?::\w+)?}", path))
    unknown = [n for n in names if n not in _SID_NAMES]
    if unknown:
        raise ValueError(f"API route {path} has path parameters of no known sid type: {unknown}")
    return names


async def _account_of(request: Request, source: AccountFrom) -> str | None:
    if source == "own":
        return None
    if source == "parameter":
        data = await form(request) if request.method == "POST" else query_dict(request)
        return forms.parse(forms.AccountParameter, data).account_sid
    return str(request.path_params["account_sid"])  # checked by path_sid first


async def _allowed(
    request: Request, account_sid: str | None, permission: str, *, any_status: bool, test_ok: bool
) -> Principal:
    """The authenticator's answer (auth.require) for this request: 401/403 otherwise."""
    rt = runtime(request)
    header = authorization(request)

    return await call(auth.check, rt, header, account_sid, permission, any_status=any_status, test_ok=test_ok)


def route(
    path: str,
    handler: Checked,
    *,
    account: AccountFrom,
    get: str | None = None,
    post: str | None = None,
    delete: str | None = None,
    test_credentials: tuple[str, ...] = (),
) -> ApiRoute:
    """A route whose handler runs only for a credential that reaches the account
    (``account``) and holds the permission declared for the request's method.
    ``test_credentials`` names the methods that take Twilio's test credentials
    (their handler must then answer ``Principal.is_test`` without sending or
    storing anything); no other request gets past the authenticator with them.

    The order of the checks is the API's contract: every sid in the path (400),
    the account parameter (400), then the credential (401, or 403 for a missing
    permission), then the handler (its form, 404s...)."""
    needs = _needs(get, post, delete)
    if not needs:
        raise TypeError(f"API route {path} declares no method")
    sid_names = _path_sids(path)
    if account in ("path", "path-any-status") and "account_sid" not in sid_names:
        raise TypeError(f"API route {path} takes its account from a path without {{account_sid}}")
    any_status = account != "path"
    test_ok = frozenset(test_credentials)
    if not test_ok <= needs.keys() or (test_ok and account != "path"):
        raise TypeError(f"API route {path} takes test credentials on an undeclared method or account")

    async def endpoint(request: Request) -> Response:
        for name in sid_names:
            path_sid(request, name)
        account_sid = await _account_of(request, account)
        request.state.account_sid = account_sid  # for ``checked_account``
        permission = needs[request.method]
        assert permission is not None  # every declared method names one (``_needs``)
        who = await _allowed(
            request, account_sid, permission, any_status=any_status, test_ok=request.method in test_ok
        )
        return await handler(request, who)

    # The handler's names, so that tools reading the route table (the API-model test,
    # tracebacks) see the handler's module rather than this one.
    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__module__ = handler.__module__
    endpoint.__doc__ = handler.__doc__
    return ApiRoute(path, endpoint, Access(account, needs, test_credentials=test_ok))


def checked_account(request: Request) -> str:
    """The account the route's wrapper checked the credential against (for an
    ``account="parameter"`` route, the one its ``AccountSid`` named)."""
    account_sid: str | None = getattr(request.state, "account_sid", None)
    if account_sid is None:
        raise TypeError("no account was checked for this request: see the route's declaration")
    return account_sid


def public(path: str, handler: Plain, methods: list[str], *, why: str) -> ApiRoute:
    """A route no tenant credential is asked for; ``why`` says what protects it, if anything."""
    needs: dict[str, str | None] = {m: None for m in methods}
    if "GET" in needs:
        needs["HEAD"] = None
    return ApiRoute(path, handler, Access(None, needs, checked_by=why))


def checked_by(path: str, handler: Plain, *, by: str, get: str, name: str | None = None) -> ApiRoute:
    """A route on the account in its path whose check is made by ``by`` (named,
    and tested to ask for ``get``), because another transport answers it too
    (and finds the route by ``name``)."""
    return ApiRoute(path, handler, Access("path", _needs(get, None, None), checked_by=by), name=name)


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
