"""``/2010-04-01/Accounts/{AC}/Keys``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import keys
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import representations as rep
from mediagate.api.common import json_response, list_response, path_sid, route
from mediagate.core.paging import parse_page_request
from mediagate.http.common import call, form, query_dict, runtime, text_field


async def keys_list(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        data = await form(request)
        created = await call(keys.create, rt, account_sid, text_field(data, "FriendlyName"), actor=who.actor)
        return json_response(rep.new_key(created.key, created.secret), 201)
    query = query_dict(request)
    req = parse_page_request(query)
    page = await call(keys.page, rt, account_sid, req)
    return list_response(request, req, page, list_key="keys", items=[rep.key(k) for k in page.rows])


async def key_instance(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    key_sid = path_sid(request, "key_sid")
    rt = runtime(request)
    if request.method == "DELETE":
        await call(keys.delete, rt, account_sid, key_sid, actor=who.actor)
        return Response(status_code=204)
    if request.method == "POST":
        data = await form(request)
        updated = await call(keys.update, rt, account_sid, key_sid, text_field(data, "FriendlyName"))
        return json_response(rep.key(updated))
    return json_response(rep.key(await call(keys.get, rt, account_sid, key_sid)))


PREFIX = "/2010-04-01/Accounts/{account_sid}/Keys"
M = perms.MANAGE_KEYS
routes = [
    route(PREFIX + ".json", keys_list, account="path", get=M, post=M),
    route(PREFIX + "/{key_sid}.json", key_instance, account="path", get=M, post=M, delete=M),
]
