"""IncomingPhoneNumbers and the number pool (issue 8, item 4) with the app in process
(tests/support/inprocess.py) on every database: the answer's shape, the refusals, who
may claim a number and who receives what is sent to it, and the operator's
``mediagate numbers`` commands through typer's runner (tests/support/cli.py).

None of this crosses the process boundary, so it runs here rather than against a
``mediagate serve`` subprocess. What stays end to end: twilio-python's
claim/fetch/update/list/release against the real server on each database
(tests/e2e/test_numbers.py), the executable's own ``numbers assign``
(tests/examples/test_readme_commands.py) and the open pool's warning as ``serve``
prints it (tests/e2e/test_first_hour.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.conftest import BACKENDS
from tests.support.cli import Done, run_cli
from tests.support.clients import assert_twilio_error
from tests.support.fileserver import FileServer, png_bytes
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.loops import eventually
from tests.support.server import Account
from tests.support.webhooks import random_number


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    with in_process_server(request.param, tmp_path_factory.mktemp(f"numbers-{request.param}")) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def open_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    tmp = tmp_path_factory.mktemp(f"numbers-open-{request.param}")
    with in_process_server(request.param, tmp, number_pool="open") as server:
        yield server


def twilio_client(server: InProcessServer, acct: Account) -> Client:
    """twilio-python whose requests go to the app in process (its ``requests`` session)."""
    http = TwilioHttpClient()
    http.session = server.http
    client = Client(acct.sid, acct.token, http_client=http)
    client.api.base_url = server.base_url
    return client


def numbers_url(server: InProcessServer, acct: Account) -> str:
    return f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json"


def claim(server: InProcessServer, acct: Account, number: str) -> requests.Response:
    return server.http.post(
        numbers_url(server, acct), data={"PhoneNumber": number}, auth=(acct.sid, acct.token), timeout=10
    )


def messages(server: InProcessServer, acct: Account) -> list[dict[str, Any]]:
    r = server.http.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["messages"]
    return rows


def send(server: InProcessServer, acct: Account, to: str, media_url: str) -> str:
    r = server.http.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": to, "From": "+14155550123", "Body": "private", "MediaUrl": media_url},
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    sid: str = r.json()["sid"]
    return sid


def settled(server: InProcessServer, acct: Account, sid: str, done: Callable[[str], bool]) -> str:
    """The message's status once ``done`` holds for it (the carrier worker has handled it)."""
    url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json"

    def probe() -> str | None:
        status: str = server.http.get(url, auth=(acct.sid, acct.token), timeout=10).json()["status"]
        return status if done(status) else None

    return eventually(probe, timeout=60)


# ------------------------------------------------------------------- the API (from tests/e2e/test_numbers.py)


def test_every_schema_property_is_present(app: InProcessServer) -> None:
    acct = app.new_account("numbers-shape")
    number = random_number()
    app.assign_number(acct.sid, number)
    r = claim(app, acct, number)
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

    page = app.http.get(
        numbers_url(app, acct), params={"PageSize": 1}, auth=(acct.sid, acct.token), timeout=10
    ).json()
    assert [n["sid"] for n in page["incoming_phone_numbers"]] == [body["sid"]]
    assert page["page_size"] == 1


def test_a_number_belongs_to_one_account(app: InProcessServer) -> None:
    first = app.new_account("owner")
    second = app.new_account("latecomer")
    number = random_number()
    app.assign_number(first.sid, number)
    mine = twilio_client(app, first).incoming_phone_numbers.create(phone_number=number)

    theirs = twilio_client(app, second)
    with pytest.raises(TwilioRestException) as info:
        theirs.incoming_phone_numbers.create(phone_number=number)
    assert info.value.status == 400 and info.value.code == 21422
    # The same account cannot claim it twice either.
    with pytest.raises(TwilioRestException) as again:
        twilio_client(app, first).incoming_phone_numbers.create(phone_number=number)
    assert again.value.code == 21422

    # Another account neither sees nor reaches it.
    assert theirs.incoming_phone_numbers.list() == []
    r = app.http.get(
        f"{app.base_url}/2010-04-01/Accounts/{first.sid}/IncomingPhoneNumbers/{mine.sid}.json",
        auth=(second.sid, second.token),
        timeout=10,
    )
    assert r.status_code == 401
    r = app.http.get(
        f"{app.base_url}/2010-04-01/Accounts/{second.sid}/IncomingPhoneNumbers/{mine.sid}.json",
        auth=(second.sid, second.token),
        timeout=10,
    )
    assert r.status_code == 404

    # Released by its account, it stays assigned to that account: nobody else can
    # take it until the operator moves it (test_operator_cli_assigns_lists_and_releases).
    twilio_client(app, first).incoming_phone_numbers(mine.sid).delete()
    with pytest.raises(TwilioRestException) as later:
        theirs.incoming_phone_numbers.create(phone_number=number)
    assert later.value.code == 21422
    mine_again = twilio_client(app, first).incoming_phone_numbers
    assert mine_again.create(phone_number=number).account_sid == first.sid


@pytest.mark.parametrize("bad", ["5551234567", "+0123", "whatsapp:+15551234567", "+1 555 123 4567", ""])
def test_invalid_numbers_are_refused(app: InProcessServer, bad: str) -> None:
    acct = app.new_account("numbers-bad")
    r = claim(app, acct, bad)
    assert r.status_code == 400
    assert r.json()["code"] == 21421


def test_bad_webhook_settings_are_refused(app: InProcessServer) -> None:
    acct = app.new_account("numbers-urls")
    url = numbers_url(app, acct)
    for data in (
        {"PhoneNumber": random_number(), "SmsUrl": "ftp://example.com/hook"},
        {"PhoneNumber": random_number(), "SmsMethod": "PUT"},
    ):
        r = app.http.post(url, data=data, auth=(acct.sid, acct.token), timeout=10)
        assert r.status_code == 400, r.text
    assert app.http.get(url, auth=(acct.sid, acct.token), timeout=10).json()["incoming_phone_numbers"] == []
    r = app.http.post(url, data={"PhoneNumber": random_number()}, timeout=10)
    assert r.status_code == 401


# ------------------------------------------------------ the number pool (from tests/e2e/test_number_pool.py)


def test_a_squatter_cannot_claim_a_number_nor_receive_its_messages(
    app: InProcessServer, files: FileServer
) -> None:
    owner = app.new_account("pool-owner")
    squatter = app.new_account("pool-squatter")
    sender = app.new_account("pool-sender")
    number = random_number()
    app.assign_number(owner.sid, number)

    # Before the fix any account could claim any number; now only its assignee.
    body = assert_twilio_error(claim(app, squatter, number), 400, 21422)
    assert squatter.sid not in body["message"] and owner.sid not in body["message"]
    assert claim(app, owner, number).status_code == 201

    url = files.add(f"/pool/{sender.sid}/secret.png", png_bytes(2000))
    sid = send(app, sender, number, url)
    assert settled(app, sender, sid, lambda s: s in ("delivered", "undelivered", "failed")) == "delivered"
    assert messages(app, squatter) == []
    inbox = [m for m in messages(app, owner) if m["direction"] == "inbound"]
    assert len(inbox) == 1 and inbox[0]["to"] == number


def test_an_unassigned_number_is_not_claimable_and_not_looped_back(
    app: InProcessServer, files: FileServer
) -> None:
    squatter = app.new_account("pool-squatter-2")
    sender = app.new_account("pool-sender-2")
    number = random_number()
    assert_twilio_error(claim(app, squatter, number), 400, 21422)
    sid = send(app, sender, number, files.add(f"/pool/{sender.sid}/x.png", png_bytes(900)))
    # Nobody here owns it: handed to the off-net carrier ("sent"), never delivered to an inbox.
    assert settled(app, sender, sid, lambda s: s not in ("queued", "sending")) == "sent"
    assert messages(app, squatter) == []


def _cli(server: InProcessServer, *args: str) -> Done:
    """``mediagate numbers ...`` on the same database and data folder as the app; the
    executable's own run of ``numbers assign`` is tests/examples/test_readme_commands.py."""
    settings = server.runtime.settings
    env = {
        "MEDIAGATE_DATA_DIR": str(settings.data_dir),
        "MEDIAGATE_DATABASE_URL": settings.database_url,
        "MEDIAGATE_SECRET_KEY": settings.secret_key,
    }
    return run_cli(env, "numbers", *args)


def test_operator_cli_assigns_lists_and_releases(app: InProcessServer, files: FileServer) -> None:
    first = app.new_account("pool-cli-first")
    second = app.new_account("pool-cli-second")
    sender = app.new_account("pool-cli-sender")
    number = random_number()

    done = _cli(app, "assign", number, first.sid)
    assert done.returncode == 0, done.stderr
    assert claim(app, first, number).status_code == 201
    # Assigned to one account, it cannot be assigned to another without a release.
    refused = _cli(app, "assign", number, second.sid)
    assert refused.returncode == 2 and "release it first" in " ".join(refused.stderr.split())

    listed = _cli(app, "list", "--account", first.sid, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["phone_number"], r["account_sid"], r["claimed"]) for r in rows] == [(number, first.sid, True)]

    # Release takes the number back, claim included: nothing more reaches `first`.
    released = _cli(app, "release", number)
    assert released.returncode == 0, released.stderr
    r = app.http.get(numbers_url(app, first), auth=(first.sid, first.token), timeout=10)
    assert r.json()["incoming_phone_numbers"] == []
    sid = send(app, sender, number, files.add(f"/pool/{sender.sid}/y.png", png_bytes(900)))
    assert settled(app, sender, sid, lambda s: s not in ("queued", "sending")) == "sent"
    assert [m for m in messages(app, first) if m["direction"] == "inbound"] == []

    # Re-assigned, the other account may claim it.
    assert _cli(app, "assign", number, second.sid).returncode == 0
    assert claim(app, second, number).status_code == 201
    arabic_indic = "+1555" + "".join(chr(0x660 + int(d)) for d in "1234567")
    bad = _cli(app, "assign", arabic_indic, second.sid)
    assert bad.returncode == 2


def test_open_pool_assigns_on_first_claim_and_keeps_it(
    open_pool: InProcessServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The warning `serve` prints at start (settings.warn_if_unsafe); that `serve` prints it
    # is checked on a real start in tests/e2e/test_first_hour.py.
    with caplog.at_level(logging.WARNING):
        open_pool.runtime.settings.warn_if_unsafe()
    assert "MEDIAGATE_NUMBER_POOL=open" in caplog.text
    first = open_pool.new_account("open-first")
    second = open_pool.new_account("open-second")
    number = random_number()
    created = claim(open_pool, first, number)
    assert created.status_code == 201, created.text
    # Released by its account, it stays that account's: no one else takes it over.
    gone = open_pool.http.delete(
        f"{open_pool.base_url}/2010-04-01/Accounts/{first.sid}/IncomingPhoneNumbers/{created.json()['sid']}.json",
        auth=(first.sid, first.token),
        timeout=10,
    )
    assert gone.status_code == 204
    assert_twilio_error(claim(open_pool, second, number), 400, 21422)
    assert claim(open_pool, first, number).status_code == 201
