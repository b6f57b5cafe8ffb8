"""Twilio's IAM v1 keys (``/v1/Keys``): standard and restricted keys with a Policy.

v2010 ``Keys.json`` creates standard keys only, as at Twilio; restricted keys
come from here (twilio-python: ``client.iam.v1.new_api_key.create(...)`` with
``client.iam.base_url`` pointed at mediagate).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import keys
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import forms
from mediagate.api import representations as rep
from mediagate.api.common import checked_account, json_response, path_sid, route
from mediagate.core.paging import page_uris, parse_page_request
from mediagate.http.common import call, form, query_dict, runtime


async def keys_collection(request: Request, who: Principal) -> Response:
    rt = runtime(request)
    if request.method == "POST":
        asked = forms.parse(forms.IamKeyCreateForm, await form(request))
        account_sid = checked_account(request)  # its AccountSid (account="parameter")
        permissions = keys.parse_policy(asked.policy) if asked.key_type == "restricted" else None
        created = await call(
            keys.create,
            rt,
            account_sid,
            asked.friendly_name,
            actor=who.actor,
            kind=asked.key_type,
            permissions=permissions,
        )
        new = rep.NewIamKey.created(rt.settings.public_url, created.key, created.secret)
        return json_response(new.body(), 201)
    query = query_dict(request)
    account_sid = checked_account(request)  # its AccountSid (forms.IamKeyListQuery), read by the wrapper
    req = parse_page_request(query)
    page = await call(keys.page, rt, account_sid, req)
    base = f"{rt.settings.public_url}/v1/Keys"

    # AccountSid is the one filter this list echoes (Twilio's v1 Keys list takes it in the query).
    uris = page_uris(base, {"AccountSid": account_sid}, req, page)
    rows = page.rows
    meta = rep.IamKeyListMeta(
        page=req.number,
        page_size=req.size,
        first_page_url=uris.first,
        previous_page_url=uris.previous,
        url=uris.uri,
        next_page_url=uris.next,
        key="keys",
    )
    listed = rep.IamKeyList(keys=[rep.IamKeyListItem.of(k) for k in rows], meta=meta)
    return json_response(listed.body())


async def key_instance(request: Request, who: Principal) -> Response:
    key_sid = path_sid(request, "key_sid")
    rt = runtime(request)
    key = await call(keys.get_reachable, rt, who, key_sid)
    if request.method == "DELETE":
        await call(keys.delete, rt, key.account_sid, key_sid, actor=who.actor)
        return Response(status_code=204)
    if request.method == "POST":
        asked = forms.parse(forms.IamKeyUpdateForm, await form(request))
        key = await call(
            keys.update,
            rt,
            key.account_sid,
            key_sid,
            asked.friendly_name,
            keys.parse_policy(asked.policy) if asked.policy is not None else None,
        )
    return json_response(rep.IamKey.of(rt.settings.public_url, key).body())


M = perms.MANAGE_KEYS
routes = [
    route("/v1/Keys", keys_collection, account="parameter", get=M, post=M),
    # The key's own account is reached (or 404) by keys.get_reachable.
    route("/v1/Keys/{key_sid}", key_instance, account="own", get=M, post=M, delete=M),
]
