"""``/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers``."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.api import representations as rep
from mediagate.api.common import echoed, json_response, list_response, path_sid, route
from mediagate.core.paging import parse_page_request
from mediagate.http.common import call, form, query_dict, runtime, text_field
from mediagate.messaging import numbers, test_credentials

_FILTERS = ("PhoneNumber", "FriendlyName")


def _fields(data: FormData) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in data:
        value = text_field(data, name)
        if value is not None:
            out[name] = value
    return out


async def numbers_collection(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    rt = runtime(request)
    if request.method == "POST":
        fields = _fields(await form(request))
        if who.is_test:  # Twilio's test credentials: magic numbers, nothing claimed or stored
            return json_response(
                rep.incoming_phone_number(await call(test_credentials.number, rt, account_sid, fields)), 201
            )
        created = await call(numbers.create, rt, account_sid, fields, actor=who.actor)
        return json_response(rep.incoming_phone_number(created), 201)
    query = query_dict(request)
    req = parse_page_request(query)
    page = await call(numbers.page, rt, account_sid, query, req)
    return list_response(
        request,
        req,
        page,
        list_key="incoming_phone_numbers",
        items=[rep.incoming_phone_number(n) for n in page.rows],
        filters=echoed(query, _FILTERS),
    )


async def number_instance(request: Request, who: Principal) -> Response:
    account_sid = path_sid(request, "account_sid")
    number_sid = path_sid(request, "number_sid")
    rt = runtime(request)
    if request.method == "DELETE":
        await call(numbers.delete, rt, account_sid, number_sid, actor=who.actor)
        return Response(status_code=204)
    if request.method == "POST":
        fields = _fields(await form(request))
        updated = await call(numbers.update, rt, account_sid, number_sid, fields, actor=who.actor)
        return json_response(rep.incoming_phone_number(updated))
    return json_response(rep.incoming_phone_number(await call(numbers.get, rt, account_sid, number_sid)))


PREFIX = "/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers"
R, W = perms.NUMBERS_READ, perms.NUMBERS_WRITE
routes = [
    route(PREFIX + ".json", numbers_collection, account="path", get=R, post=W, test_credentials=("POST",)),
    route(PREFIX + "/{number_sid}.json", number_instance, account="path", get=R, post=W, delete=W),
]
