"""``/2010-04-01/Accounts``: the credential's account and its subaccounts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import accounts
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import representations as rep
from mediagate.api.common import echoed, json_response, list_response, path_sid, route
from mediagate.core.paging import parse_page_request
from mediagate.db.records import AccountRecord
from mediagate.http.common import call, form, query_dict, runtime, text_field
from mediagate.runtime.context import Runtime


def _body(rt: Runtime, account: AccountRecord) -> dict[str, object]:
    # Twilio returns the auth token to whoever may manage the account.
    return rep.account(account, include_token=accounts.reveal_auth_token(rt, account))


async def accounts_list(request: Request, who: Principal) -> Response:
    rt = runtime(request)
    if request.method == "POST":
        data = await form(request)
        created = await call(
            accounts.create_subaccount, rt, who.account_sid, text_field(data, "FriendlyName")
        )
        return json_response(rep.account(created.account, include_token=created.auth_token), 201)
    query = query_dict(request)
    req = parse_page_request(query)
    page = await call(accounts.reachable_page, rt, who.account_sid, query, req)
    items = await call(lambda: [_body(rt, a) for a in page.rows])
    return list_response(
        request,
        req,
        page,
        list_key="accounts",
        items=items,
        filters=echoed(query, ("FriendlyName", "Status")),
    )


async def account_instance(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        data = await form(request)
        account = await call(
            accounts.update,
            rt,
            account_sid,
            actor_account=who.account_sid,
            friendly_name=text_field(data, "FriendlyName"),
            status=text_field(data, "Status"),
        )
    else:
        account = await call(accounts.get, rt, account_sid)
    return json_response(await call(_body, rt, account))


M = perms.MANAGE_ACCOUNTS
routes = [
    route("/2010-04-01/Accounts.json", accounts_list, account="own", get=M, post=M),
    # A suspended subaccount is still its parent's to read and reactivate.
    route(
        "/2010-04-01/Accounts/{account_sid}.json", account_instance, account="path-any-status", get=M, post=M
    ),
]
