"""IncomingPhoneNumbers through twilio-python and plain HTTP against the real server."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from tests.support.clients import twilio_client
from tests.support.server import RunningServer
from tests.support.webhooks import random_number


def test_claim_fetch_update_list_release(server: RunningServer) -> None:
    acct = server.new_account("numbers")
    client = twilio_client(server, acct.sid, acct.token)
    number = random_number()
    server.assign_number(acct.sid, number)

    created = client.incoming_phone_numbers.create(
        phone_number=number, sms_url="http://127.0.0.1:9/sms", sms_method="GET", friendly_name="front desk"
    )
    assert created.sid.startswith("PN") and len(created.sid) == 34
    assert created.phone_number == number
    assert created.account_sid == acct.sid
    assert created.sms_url == "http://127.0.0.1:9/sms"
    assert created.sms_method == "GET"
    assert created.friendly_name == "front desk"
    assert created.uri == f"/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers/{created.sid}.json"

    fetched = client.incoming_phone_numbers(created.sid).fetch()
    assert fetched.phone_number == number and fetched.sms_method == "GET"

    updated = client.incoming_phone_numbers(created.sid).update(
        sms_url="http://127.0.0.1:9/other", sms_method="POST"
    )
    assert updated.sms_url == "http://127.0.0.1:9/other" and updated.sms_method == "POST"
    assert updated.friendly_name == "front desk"  # untouched fields stay

    listed = client.incoming_phone_numbers.list()
    assert [n.sid for n in listed] == [created.sid]
    assert [n.sid for n in client.incoming_phone_numbers.list(phone_number=number)] == [created.sid]

    assert client.incoming_phone_numbers(created.sid).delete() is True
    assert client.incoming_phone_numbers.list() == []
    with pytest.raises(TwilioRestException) as info:
        client.incoming_phone_numbers(created.sid).fetch()
    assert info.value.status == 404


def test_every_schema_property_is_present(server: RunningServer) -> None:
    acct = server.new_account("numbers-shape")
    number = random_number()
    server.assign_number(acct.sid, number)
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    expected = {
        "account_sid", "address_sid", "address_requirements", "api_version", "beta", "capabilities",
        "date_created", "date_updated", "friendly_name", "identity_sid", "phone_number", "origin", "sid",
        "sms_application_sid", "sms_fallback_method", "sms_fallback_url", "sms_method", "sms_url",
        "status_callback", "status_callback_method", "trunk_sid", "uri", "voice_receive_mode",
        "voice_application_sid", "voice_caller_id_lookup", "voice_fallback_method", "voice_fallback_url",
        "voice_method", "voice_url", "emergency_status", "emergency_address_sid", "emergency_address_status",
        "bundle_sid", "status", "type",
    }  # fmt: skip
    assert expected <= set(body)
    assert body["sms_method"] == "POST"
    assert body["date_created"].endswith("+0000")

    page = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        params={"PageSize": 1},
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()
    assert [n["sid"] for n in page["incoming_phone_numbers"]] == [body["sid"]]
    assert page["page_size"] == 1


def test_a_number_belongs_to_one_account(server: RunningServer) -> None:
    first = server.new_account("owner")
    second = server.new_account("latecomer")
    number = random_number()
    server.assign_number(first.sid, number)
    mine = twilio_client(server, first.sid, first.token).incoming_phone_numbers.create(phone_number=number)

    theirs = twilio_client(server, second.sid, second.token)
    with pytest.raises(TwilioRestException) as info:
        theirs.incoming_phone_numbers.create(phone_number=number)
    assert info.value.status == 400 and info.value.code == 21422
    # The same account cannot claim it twice either.
    with pytest.raises(TwilioRestException) as again:
        twilio_client(server, first.sid, first.token).incoming_phone_numbers.create(phone_number=number)
    assert again.value.code == 21422

    # Another account neither sees nor reaches it.
    assert theirs.incoming_phone_numbers.list() == []
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{first.sid}/IncomingPhoneNumbers/{mine.sid}.json",
        auth=(second.sid, second.token),
        timeout=10,
    )
    assert r.status_code == 401
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{second.sid}/IncomingPhoneNumbers/{mine.sid}.json",
        auth=(second.sid, second.token),
        timeout=10,
    )
    assert r.status_code == 404

    # Released by its account, it stays assigned to that account: nobody else can
    # take it until the operator moves it (see test_number_pool.py).
    twilio_client(server, first.sid, first.token).incoming_phone_numbers(mine.sid).delete()
    with pytest.raises(TwilioRestException) as later:
        theirs.incoming_phone_numbers.create(phone_number=number)
    assert later.value.code == 21422
    mine_again = twilio_client(server, first.sid, first.token).incoming_phone_numbers
    assert mine_again.create(phone_number=number).account_sid == first.sid


@pytest.mark.parametrize("bad", ["5551234567", "+0123", "whatsapp:+15551234567", "+1 555 123 4567", ""])
def test_invalid_numbers_are_refused(server: RunningServer, bad: str) -> None:
    acct = server.new_account("numbers-bad")
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": bad},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["code"] == 21421


def test_bad_webhook_settings_are_refused(server: RunningServer) -> None:
    acct = server.new_account("numbers-urls")
    url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json"
    for data in (
        {"PhoneNumber": random_number(), "SmsUrl": "ftp://example.com/hook"},
        {"PhoneNumber": random_number(), "SmsMethod": "PUT"},
    ):
        r = requests.post(url, data=data, auth=(acct.sid, acct.token), timeout=10)
        assert r.status_code == 400, r.text
    assert requests.get(url, auth=(acct.sid, acct.token), timeout=10).json()["incoming_phone_numbers"] == []
    r = requests.post(url, data={"PhoneNumber": random_number()}, timeout=10)
    assert r.status_code == 401
