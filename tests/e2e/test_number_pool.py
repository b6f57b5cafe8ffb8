"""Number ownership (issue 8, item 4): a number reaches the one account an operator
assigned it to. Another account can neither claim it nor receive what is sent to it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from tests.support.cli import Done, run_cli
from tests.support.clients import assert_twilio_error
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account, RunningServer
from tests.support.webhooks import random_number


def claim(server: RunningServer, acct: Account, number: str) -> requests.Response:
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number},
        auth=(acct.sid, acct.token),
        timeout=10,
    )


def messages(server: RunningServer, acct: Account) -> list[dict[str, Any]]:
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["messages"]
    return rows


def send(server: RunningServer, acct: Account, to: str, media_url: str) -> str:
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": to, "From": "+14155550123", "Body": "private", "MediaUrl": media_url},
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    sid: str = r.json()["sid"]
    return sid


def settled(server: RunningServer, acct: Account, sid: str, done: Callable[[str], bool]) -> str:
    """Wait (bounded, no timing assertion) until the carrier has handled the message."""
    deadline = time.monotonic() + 60
    while True:
        r = requests.get(
            f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json",
            auth=(acct.sid, acct.token),
            timeout=10,
        )
        status: str = r.json()["status"]
        if done(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_a_squatter_cannot_claim_a_number_nor_receive_its_messages(
    server: RunningServer, files: FileServer
) -> None:
    owner = server.new_account("pool-owner")
    squatter = server.new_account("pool-squatter")
    sender = server.new_account("pool-sender")
    number = random_number()
    server.assign_number(owner.sid, number)

    # Before the fix any account could claim any number; now only its assignee.
    body = assert_twilio_error(claim(server, squatter, number), 400, 21422)
    assert squatter.sid not in body["message"] and owner.sid not in body["message"]
    assert claim(server, owner, number).status_code == 201

    url = files.add(f"/pool/{sender.sid}/secret.png", png_bytes(2000))
    sid = send(server, sender, number, url)
    assert settled(server, sender, sid, lambda s: s in ("delivered", "undelivered", "failed")) == "delivered"
    assert messages(server, squatter) == []
    inbox = [m for m in messages(server, owner) if m["direction"] == "inbound"]
    assert len(inbox) == 1 and inbox[0]["to"] == number


def test_an_unassigned_number_is_not_claimable_and_not_looped_back(
    server: RunningServer, files: FileServer
) -> None:
    squatter = server.new_account("pool-squatter-2")
    sender = server.new_account("pool-sender-2")
    number = random_number()
    assert_twilio_error(claim(server, squatter, number), 400, 21422)
    sid = send(server, sender, number, files.add(f"/pool/{sender.sid}/x.png", png_bytes(900)))
    # Nobody here owns it: handed to the off-net carrier ("sent"), never delivered to an inbox.
    assert settled(server, sender, sid, lambda s: s not in ("queued", "sending")) == "sent"
    assert messages(server, squatter) == []


def _cli(server: RunningServer, *args: str) -> Done:
    """``mediagate numbers ...`` in this process (tests/support/cli.py); the executable's
    own run of ``numbers assign`` is tests/examples/test_readme_commands.py."""
    return run_cli(server.env, "numbers", *args)


def test_operator_cli_assigns_lists_and_releases(server: RunningServer, files: FileServer) -> None:
    first = server.new_account("pool-cli-first")
    second = server.new_account("pool-cli-second")
    sender = server.new_account("pool-cli-sender")
    number = random_number()

    done = _cli(server, "assign", number, first.sid)
    assert done.returncode == 0, done.stderr
    assert claim(server, first, number).status_code == 201
    # Assigned to one account, it cannot be assigned to another without a release.
    refused = _cli(server, "assign", number, second.sid)
    assert refused.returncode == 2 and "release it first" in " ".join(refused.stderr.split())

    listed = _cli(server, "list", "--account", first.sid, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["phone_number"], r["account_sid"], r["claimed"]) for r in rows] == [(number, first.sid, True)]

    # Release takes the number back, claim included: nothing more reaches `first`.
    released = _cli(server, "release", number)
    assert released.returncode == 0, released.stderr
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{first.sid}/IncomingPhoneNumbers.json",
        auth=(first.sid, first.token),
        timeout=10,
    )
    assert r.json()["incoming_phone_numbers"] == []
    sid = send(server, sender, number, files.add(f"/pool/{sender.sid}/y.png", png_bytes(900)))
    assert settled(server, sender, sid, lambda s: s not in ("queued", "sending")) == "sent"
    assert [m for m in messages(server, first) if m["direction"] == "inbound"] == []

    # Re-assigned, the other account may claim it.
    assert _cli(server, "assign", number, second.sid).returncode == 0
    assert claim(server, second, number).status_code == 201
    arabic_indic = "+1555" + "".join(chr(0x660 + int(d)) for d in "1234567")
    bad = _cli(server, "assign", arabic_indic, second.sid)
    assert bad.returncode == 2


def test_open_pool_assigns_on_first_claim_and_keeps_it(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory(MEDIAGATE_NUMBER_POOL="open")
    assert "MEDIAGATE_NUMBER_POOL=open" in server.log()
    first = server.new_account("open-first")
    second = server.new_account("open-second")
    number = random_number()
    created = claim(server, first, number)
    assert created.status_code == 201, created.text
    # Released by its account, it stays that account's: no one else takes it over.
    gone = requests.delete(
        f"{server.base_url}/2010-04-01/Accounts/{first.sid}/IncomingPhoneNumbers/{created.json()['sid']}.json",
        auth=(first.sid, first.token),
        timeout=10,
    )
    assert gone.status_code == 204
    assert_twilio_error(claim(server, second, number), 400, 21422)
    assert claim(server, first, number).status_code == 201
