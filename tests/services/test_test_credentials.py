"""Twilio's test credentials through the real app, in process, on SQLite and PostgreSQL.

Every magic number of Twilio's "Test Credentials" page
(https://www.twilio.com/docs/iam/test-credentials) on ``POST Messages.json`` and
``POST IncomingPhoneNumbers.json``; nothing sent or stored; every other request
made with them answers 403 / 20008 (the route table walked as
tests/unit/test_api_routes.py walks it); they never reach the live account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mediagate.accounts import accounts, auth, credential_check, test_credentials
from mediagate.core import sids
from mediagate.db.models import Account, IncomingPhoneNumber, Message, OutboxEntry, WebhookDelivery
from mediagate.http.app import create_app
from mediagate.runtime.context import Runtime
from tests.support.clients import basic
from tests.support.loops import run_fresh
from tests.unit.test_api_routes import CONTENT, TABLE, TEST_CREDENTIALS, V2010


@dataclass
class World:
    rt: Runtime
    sid: str
    token: str
    test_sid: str
    test_token: str

    @property
    def test_auth(self) -> dict[str, str]:
        return {"Authorization": basic(self.test_sid, self.test_token)}

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        app = create_app(self.rt)

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mediagate.test") as client:
                return await client.request(method, url, **kwargs)

        return run_fresh(go)

    def stored(self) -> tuple[int, int, int, int]:
        """Messages, numbers, outbox entries and webhook deliveries in the database."""
        with self.rt.sessions() as session:
            return (
                session.scalar(select(func.count()).select_from(Message)) or 0,
                session.scalar(select(func.count()).select_from(IncomingPhoneNumber)) or 0,
                session.scalar(select(func.count()).select_from(OutboxEntry)) or 0,
                session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0,
            )


@pytest.fixture
def world(runtime: Runtime) -> World:
    made = accounts.create(runtime, "tested")
    return World(
        runtime, made.account.sid, made.auth_token, made.account.test_account_sid, made.test_auth_token
    )


def _message(world: World, to: str, from_: str, **extra: Any) -> httpx.Response:
    data = {"To": to, "From": from_, "Body": "magic", **extra}
    path = f"/2010-04-01/Accounts/{world.test_sid}/Messages.json"
    return world.send("POST", path, data=data, headers=world.test_auth)


# (To, From) -> the error code Twilio's page gives, or None for 201.
MESSAGE_CASES = [
    ("+14155550100", "+15005550006", None),
    ("+14155550100", "+15005550001", 21212),
    ("+14155550100", "+15005550007", 21606),
    ("+14155550100", "+15005550008", 21611),
    ("+14155550100", "+14155550199", 21606),  # any other From: not owned by the test credentials
    ("+15005550001", "+15005550006", 21211),
    ("+15005550002", "+15005550006", 21612),
    ("+15005550003", "+15005550006", 21408),
    ("+15005550004", "+15005550006", 21610),
    ("+15005550009", "+15005550006", 21614),
]


def test_every_magic_number_of_messages(world: World) -> None:
    before = world.stored()
    for to, from_, code in MESSAGE_CASES:
        r = _message(world, to, from_)
        if code is None:
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["account_sid"] == world.test_sid
            assert sids.is_sid(body["sid"], sids.SMS)
            assert (body["to"], body["from"], body["body"]) == (to, from_, "magic")
            assert (body["status"], body["direction"], body["num_media"]) == ("queued", "outbound-api", "0")
            assert body["uri"] == f"/2010-04-01/Accounts/{world.test_sid}/Messages/{body['sid']}.json"
        else:
            assert r.status_code == 400, (to, from_, r.text)
            assert r.json()["code"] == code, (to, from_, r.json())
            assert r.json()["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert world.stored() == before  # nothing stored, queued for a carrier or called back


def test_the_usual_validation_still_applies_to_test_messages(world: World) -> None:
    path = f"/2010-04-01/Accounts/{world.test_sid}/Messages.json"
    cases: list[tuple[dict[str, Any], int]] = [
        ({"From": "+15005550006", "Body": "x"}, 21604),
        ({"To": "12345", "From": "+15005550006", "Body": "x"}, 21211),
        ({"To": "+14155550100", "Body": "x"}, 21603),
        ({"To": "+14155550100", "From": "+15005550006"}, 21602),
        ({"To": "+14155550100", "From": "+15005550006", "Body": "x" * 1601}, 21617),
        ({"To": "+14155550100", "From": "+15005550006", "MediaUrl": "ftp://x"}, 21620),
        (
            {"To": "+14155550100", "From": "+15005550006", "MediaUrl": [f"https://x/{i}" for i in range(11)]},
            21623,
        ),
    ]
    for data, code in cases:
        r = world.send("POST", path, data=data, headers=world.test_auth)
        assert (r.status_code, r.json()["code"]) == (400, code), (data, r.text)


def test_a_test_message_with_media_fetches_nothing(world: World) -> None:
    # A MediaUrl nobody serves: the live path would fail to fetch it; the test answer never tries.
    r = _message(world, "+14155550100", "+15005550006", MediaUrl="https://unreachable.invalid/cat.jpg")
    assert r.status_code == 201, r.text
    assert sids.is_sid(r.json()["sid"], sids.MMS)
    assert r.json()["num_media"] == "0"
    assert world.stored() == (0, 0, 0, 0)


# PhoneNumber (or AreaCode) -> the error code, or None for 201.
NUMBER_CASES: list[tuple[dict[str, str], int | None]] = [
    ({"PhoneNumber": "+15005550006"}, None),
    ({"PhoneNumber": "+15005550000"}, 21422),
    ({"PhoneNumber": "+15005550001"}, 21421),
    ({"PhoneNumber": "+14155550123"}, 21422),  # nothing is stored: no other number can be shown bought
    ({"PhoneNumber": "not a number"}, 21421),
    ({"AreaCode": "500"}, None),
    ({"AreaCode": "533"}, 21452),
]


def test_every_magic_number_of_incoming_phone_numbers(world: World) -> None:
    path = f"/2010-04-01/Accounts/{world.test_sid}/IncomingPhoneNumbers.json"
    for data, code in NUMBER_CASES:
        r = world.send(
            "POST", path, data={**data, "SmsUrl": "https://example.com/sms"}, headers=world.test_auth
        )
        if code is None:
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["account_sid"] == world.test_sid
            assert sids.is_sid(body["sid"], sids.PHONE_NUMBER)
            assert body["phone_number"] == "+15005550006"
            assert body["sms_url"] == "https://example.com/sms"  # the live path's field rules apply
        else:
            assert r.status_code == 400, (data, r.text)
            assert r.json()["code"] == code, (data, r.json())
    bad = world.send(
        "POST", path, data={"PhoneNumber": "+15005550006", "SmsMethod": "PUT"}, headers=world.test_auth
    )
    assert (bad.status_code, bad.json()["code"]) == (400, 20001)
    assert world.stored() == (0, 0, 0, 0)


def _concrete(template: str, account_sid: str) -> str:
    return (
        template.replace("{account_sid}", account_sid)
        .replace("{message_sid}", sids.new_sid(sids.MMS))
        .replace("{media_sid}", sids.new_sid(sids.MEDIA))
        .replace("{key_sid}", sids.new_sid(sids.KEY))
        .replace("{number_sid}", sids.new_sid(sids.PHONE_NUMBER))
    )


# Every request that asks for a tenant credential: the wrapper's routes and the content URL.
TENANT = [key for key, need in TABLE.items() if need.checked_by in (None, CONTENT)]


def test_every_other_request_answers_20008(world: World) -> None:
    others = [key for key in TENANT if key not in TEST_CREDENTIALS]
    assert len(others) == len(TENANT) - 2
    for route_path, method in others:
        for account_sid in (world.test_sid, world.sid):  # its own test SID, or the live one
            url = _concrete(route_path, account_sid)
            extra: dict[str, Any] = {}
            if TABLE[(route_path, method)].account == "parameter":
                extra = {"data": {"AccountSid": account_sid}} if method == "POST" else {}
                url += "" if method == "POST" else f"?AccountSid={account_sid}"
            r = world.send(method, url, headers=world.test_auth, **extra)
            assert r.status_code == 403, (method, url, r.text)
            assert r.json() == {
                "code": 20008,
                "message": "Resource not accessible with Test Account Credentials",
                "more_info": "https://www.twilio.com/docs/errors/20008",
                "status": 403,
            }, (method, url)


def test_test_credentials_never_reach_the_live_account(world: World) -> None:
    # The live account's SID in the path of a route that takes test credentials: out of reach.
    r = world.send(
        "POST",
        f"{V2010.format(account_sid=world.sid)}/Messages.json",
        data={"To": "+14155550100", "From": "+15005550006", "Body": "x"},
        headers=world.test_auth,
    )
    assert (r.status_code, r.json()["code"]) == (401, 20003)
    # Another account's test SID with these test credentials: out of reach too.
    other = accounts.create(world.rt, "other")
    r = world.send(
        "POST",
        f"/2010-04-01/Accounts/{other.account.test_account_sid}/Messages.json",
        data={"To": "+14155550100", "From": "+15005550006", "Body": "x"},
        headers=world.test_auth,
    )
    assert (r.status_code, r.json()["code"]) == (401, 20003)
    # The live credentials on the test SID: it is no account of theirs.
    live = world.send(
        "POST",
        f"/2010-04-01/Accounts/{world.test_sid}/Messages.json",
        data={"To": "+14155550100", "From": "+15005550006", "Body": "x"},
        headers={"Authorization": basic(world.sid, world.token)},
    )
    assert (live.status_code, live.json()["code"]) == (401, 20003)


def test_a_wrong_test_token_or_a_suspended_account_is_a_401(world: World) -> None:
    wrong = {"Authorization": basic(world.test_sid, world.token)}  # the live token with the test SID
    r = world.send(
        "POST",
        f"/2010-04-01/Accounts/{world.test_sid}/Messages.json",
        data={"To": "+14155550100", "From": "+15005550006", "Body": "x"},
        headers=wrong,
    )
    assert (r.status_code, r.json()["code"]) == (401, 20003)
    parent = accounts.create(world.rt, "parent")
    sub = accounts.create_subaccount(world.rt, parent.account.sid, "child")
    accounts.update(
        world.rt, sub.account.sid, actor_account=parent.account.sid, friendly_name=None, status="suspended"
    )
    r = world.send(
        "POST",
        f"/2010-04-01/Accounts/{sub.account.test_account_sid}/Messages.json",
        data={"To": "+14155550100", "From": "+15005550006", "Body": "x"},
        headers={"Authorization": basic(sub.account.test_account_sid, sub.test_auth_token)},
    )
    assert (r.status_code, r.json()["code"]) == (401, 20003)


def test_the_test_token_is_stored_like_the_auth_token(world: World) -> None:
    with world.rt.sessions() as session:
        row = session.get(Account, world.sid)
        assert row is not None
        assert row.test_account_sid == world.test_sid != world.sid
        assert row.test_auth_token_hash == world.rt.keyring.hash_secret(world.test_token)
        assert row.test_auth_token_sealed is not None
        assert world.test_token not in row.test_auth_token_sealed
        assert test_credentials.reveal(world.rt, row) == world.test_token
    assert world.test_token != world.token


def test_the_console_names_test_credentials_but_never_signs_them_in(world: World) -> None:
    # Sign-in (auth.identify without include_test): a test SID is nobody.
    found = auth.identify_with(
        world.rt, world.test_sid, lambda h: world.rt.keyring.verify_secret(world.test_token, h)
    )
    assert found == "unknown"
    # The credential check explains the pair to its owner.
    verdict = credential_check.check(world.rt, world.sid, world.test_sid, world.test_token)
    assert (verdict.ok, verdict.code) == (False, "test_credentials")
    assert "20008" in verdict.message and world.test_token not in verdict.message
    wrong = credential_check.check(world.rt, world.sid, world.test_sid, world.token)
    assert (wrong.ok, wrong.code) == (False, "wrong_secret")
