"""Twilio's test credentials from twilio-python against a real server: the pair that
``mediagate accounts create --json`` prints sends with the magic From number, gets
Twilio's error codes for the magic To numbers, buys the magic number, and is refused
403 / 20008 everywhere else; the live account sees nothing of it."""

from __future__ import annotations

import json

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.support.cli import run_cli
from tests.support.server import RunningServer


def test_twilio_python_with_test_credentials(server: RunningServer) -> None:
    done = run_cli(server.env, "accounts", "create", "--friendly-name", "test creds", "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    test_sid, test_token = made["test_account_sid"], made["test_auth_token"]
    assert test_sid.startswith("AC") and len(test_sid) == 34 and test_sid != made["sid"]
    assert len(test_token) == 32 and test_token != made["auth_token"]
    again = run_cli(server.env, "accounts", "token", made["sid"], "--test")
    assert again.returncode == 0 and again.stdout.split() == [test_sid, test_token], again.stderr

    client = Client(test_sid, test_token)
    client.api.base_url = server.base_url
    sent = client.messages.create(to="+14155550100", from_="+15005550006", body="magic")
    assert sent.sid.startswith("SM") and sent.account_sid == test_sid and sent.status == "queued"
    for to, code in (("+15005550001", 21211), ("+15005550004", 21610), ("+15005550009", 21614)):
        with pytest.raises(TwilioRestException) as refused:
            client.messages.create(to=to, from_="+15005550006", body="magic")
        assert (refused.value.status, refused.value.code) == (400, code)
    bought = client.incoming_phone_numbers.create(phone_number="+15005550006")
    assert bought.phone_number == "+15005550006" and bought.account_sid == test_sid

    # Everything else: Twilio's 403 / 20008.
    with pytest.raises(TwilioRestException) as forbidden:
        client.messages(sent.sid).fetch()
    assert (forbidden.value.status, forbidden.value.code) == (403, 20008)
    for listing in (client.messages.list, client.keys.list):
        # twilio-python reports a refused page as a plain TwilioException with the response.
        with pytest.raises(TwilioException) as refused_page:
            listing()
        assert "HTTP 403" in str(refused_page.value) and '"code":20008' in str(refused_page.value)

    # The media URL too (through the server's fast path, which must fall back and refuse the same way).
    content = f"{server.base_url}/2010-04-01/Accounts/{test_sid}/Messages/MM{'a' * 32}/Media/ME{'b' * 32}"
    for _ in range(2):
        r = requests.get(content, auth=(test_sid, test_token), allow_redirects=False, timeout=10)
        assert (r.status_code, r.json()["code"]) == (403, 20008)

    # Nothing was stored: the live account has no message and no number.
    live = Client(made["sid"], made["auth_token"])
    live.api.base_url = server.base_url
    assert live.messages.list() == [] and live.incoming_phone_numbers.list() == []
