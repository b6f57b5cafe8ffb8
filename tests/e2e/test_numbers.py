"""IncomingPhoneNumbers through twilio-python against the real server, on each database:
the route's end-to-end sample. The answer's shape, the refusals and who may claim a number
do not cross the process and run in process (tests/inprocess/test_firsthour_numbers.py)."""

from __future__ import annotations

import pytest
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
