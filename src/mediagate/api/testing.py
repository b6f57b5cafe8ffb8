"""``/v1/Testing/*``: the test mode's control API (docs/test-mode.md).

Mounted by ``create_app`` only when ``MEDIAGATE_TEST_MODE`` is on; otherwise
these paths are unknown (the API's 404) and nothing behind them exists. With
``MEDIAGATE_TEST_MODE_TOKEN`` every request needs ``Authorization: Bearer
<token>`` (compared in constant time); without it the server only starts on a
loopback bind (``Settings.startup_problem``). No tenant credential is asked
for: test mode's controls act on the whole server.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import accounts
from mediagate.api.common import json_response, list_response, public
from mediagate.core import sids
from mediagate.core.errors import ApiError, BadRequest, NotFound
from mediagate.core.paging import parse_page_request
from mediagate.core.timefmt import iso
from mediagate.http.common import call, form, query_dict, runtime
from mediagate.http.probes import bearer_matches
from mediagate.testmode import faults as fault_rules
from mediagate.testmode import reset as resetting
from mediagate.testmode.state import TestMode

PREFIX = "/v1/Testing"
_SECONDS = re.compile(r"(0|[1-9][0-9]{0,9})(\.[0-9]{1,6})?\Z", re.ASCII)
MAX_ADVANCE = 100 * 365 * 86400  # a century: far enough for any expiry, finite for datetime

Handler = Callable[[Request, TestMode], Awaitable[Response]]


def _guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        rt = runtime(request)
        testing = rt.testing
        if testing is None:  # not mounted without test mode; a second lock on the door
            raise NotFound(request.url.path)
        token = rt.settings.test_mode_token
        if token and not bearer_matches(request.headers.get("authorization"), token):
            raise ApiError(
                "Authenticate: test mode needs Authorization: Bearer <MEDIAGATE_TEST_MODE_TOKEN>.",
                code=20003,
                status=401,
            )
        return await handler(request, testing)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def clock(request: Request, testing: TestMode) -> Response:
    """The server's time; ``POST AdvanceSeconds=N`` (N > 0) moves it forward."""
    if request.method == "POST":
        raw = (await form(request)).get("AdvanceSeconds")
        if not isinstance(raw, str) or not raw:
            raise BadRequest("AdvanceSeconds is required (seconds, greater than 0).", code=20001)
        if _SECONDS.match(raw) is None or not 0 < float(raw) <= MAX_ADVANCE:
            raise BadRequest(
                f"AdvanceSeconds must be a number of seconds greater than 0 and at most {MAX_ADVANCE}; "
                "time never goes backwards.",
                code=20001,
            )
        testing.clock.advance(float(raw))  # wakes the workers waiting for due work
    return json_response(testing.clock_json())


async def faults(request: Request, testing: TestMode) -> Response:
    """Arm a fault (POST, 201), list the armed ones (GET), or disarm all (DELETE, 204)."""
    if request.method == "POST":
        data = await form(request)
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        fault = fault_rules.parse(fields, testing.clock)
        testing.faults.add(fault)
        return json_response(fault.as_json(), status=201)
    if request.method == "DELETE":
        testing.faults.clear()
        return Response(status_code=204)
    armed = [f.as_json() for f in testing.faults.list()]
    return json_response({"faults": armed, "uri": request.url.path})


async def fault_instance(request: Request, testing: TestMode) -> Response:
    """One armed fault (GET) or disarm it (DELETE, 204); 404 once used up."""
    sid = request.path_params["sid"]
    if not sids.is_sid(sid, fault_rules.FAULT):
        raise BadRequest(f"Invalid Sid {sid[:40]!r}: expected {fault_rules.FAULT} followed by 32 hex digits.")
    if request.method == "DELETE":
        if not testing.faults.remove(sid):
            raise NotFound(request.url.path)
        return Response(status_code=204)
    for fault in testing.faults.list():
        if fault.sid == sid:
            return json_response(fault.as_json())
    raise NotFound(request.url.path)


def _filter(query: dict[str, str], name: str, prefix: str) -> str | None:
    value = query.get(name) or None
    if value is not None and not sids.is_sid(value, prefix):
        raise BadRequest(f"Invalid {name} {value[:40]!r}: expected {prefix} followed by 32 hex digits.")
    return value


async def journal(request: Request, testing: TestMode) -> Response:
    """What happened, oldest first, optionally for one account or media; Twilio's paging."""
    query = query_dict(request)
    account_sid = _filter(query, "AccountSid", sids.ACCOUNT)
    media_sid = _filter(query, "MediaSid", sids.MEDIA)
    req = parse_page_request(query)
    page = testing.journal.page(account_sid, media_sid, req)
    filters = {k: v for k, v in (("AccountSid", account_sid), ("MediaSid", media_sid)) if v}
    return list_response(
        request, req, page, list_key="journal", items=[e.as_json() for e in page.rows], filters=filters
    )


async def create_account(request: Request, testing: TestMode) -> Response:
    """A new account (``FriendlyName``, optional): what ``mediagate accounts create --json``
    prints, without a CLI process per test (the pytest plugin's ``mediagate_account``)."""
    data = await form(request)
    name = data.get("FriendlyName")
    rt = runtime(request)
    created = await call(accounts.create, rt, name if isinstance(name, str) and name else "test")
    a = created.account
    answer = {
        "sid": a.sid,
        "auth_token": created.auth_token,
        # Twilio's test credentials (accounts/test_credentials.py), as accounts create --json shows them.
        "test_account_sid": a.test_account_sid,
        "test_auth_token": created.test_auth_token,
        "friendly_name": a.friendly_name,
        "status": a.status,
        "enforce_media_http_auth": a.enforce_media_http_auth,
        "date_created": iso(a.date_created),
        "api_base_url": rt.settings.public_url,
    }
    return json_response(answer, status=201)


async def reset(request: Request, testing: TestMode) -> Response:
    """Remove every account and what it holds, every fault and journal entry; clock offset 0; re-seed."""
    await call(resetting.reset, runtime(request))
    return json_response(testing.clock_json())


async def media_list_fault(rt_testing: TestMode | None, account_sid: str) -> bool:
    """The media list's test-mode fault, asked after its route checked the
    credential: a delay, a failing status (raised), or ``True`` for an empty list."""
    if rt_testing is None:
        return False
    fault = rt_testing.faults.take("media-list", account_sid, None)
    rt_testing.journal.record("media-list", account_sid, None, fault=fault.sid if fault is not None else None)
    if fault is None:
        return False
    if fault.action == "delay":
        assert fault.delay_ms is not None
        await asyncio.sleep(fault.delay_ms / 1000)
        return False
    if fault.action == "status":
        assert fault.status is not None
        raise ApiError(
            f"Fault {fault.sid} injected by test mode.", code=20000 + fault.status, status=fault.status
        )
    return True  # empty-list


_WHY = (
    "test mode only (mounted with MEDIAGATE_TEST_MODE); MEDIAGATE_TEST_MODE_TOKEN as a bearer token when set"
)
routes = [
    public(PREFIX + "/Clock", _guarded(clock), ["GET", "POST"], why=_WHY),
    public(PREFIX + "/Faults", _guarded(faults), ["GET", "POST", "DELETE"], why=_WHY),
    public(PREFIX + "/Faults/{sid}", _guarded(fault_instance), ["GET", "DELETE"], why=_WHY),
    public(PREFIX + "/Journal", _guarded(journal), ["GET"], why=_WHY),
    public(PREFIX + "/Reset", _guarded(reset), ["POST"], why=_WHY),
    public(PREFIX + "/Accounts", _guarded(create_account), ["POST"], why=_WHY),
]
