"""The Messages resource against the real server, a sample on each database: twilio-python creates
and fetches a message with media and walks a list's pages. Every rule of the resource is checked
with the app in process: tests/inprocess/test_api_messages.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.rest import Client

from tests.support.clients import twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.schema import assert_matches_schema
from tests.support.server import Account, RunningServer

MESSAGE_SCHEMA = "api.v2010.account.message"
MEDIA_SCHEMA = "api.v2010.account.message.media"
ENVELOPE_KEYS = {
    "first_page_uri",
    "next_page_uri",
    "previous_page_uri",
    "page",
    "page_size",
    "start",
    "end",
    "uri",
}
TO = "+15551230001"
FROM = "+15557650001"


# --------------------------------------------------------------------------- helpers


def messages_url(server: RunningServer, acct: Account) -> str:
    return f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json"


def settled(client: Client, sid: str) -> Any:
    """The message once its media fetch is over: Twilio answers the create ``queued``
    and fetches afterwards, so the outcome shows when the status leaves ``queued``."""
    return eventually(lambda: (m := client.messages(sid).fetch()).status != "queued" and m)


def wait_for_status(client: Client, sid: str, status: str, timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        message = client.messages(sid).fetch()
        if message.status == status or time.monotonic() > deadline:
            return message
        time.sleep(0.05)


# --------------------------------------------------------------------------- create / fetch / delete


def test_create_and_fetch_with_twilio_python(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("messages-twilio")
    client = twilio_client(server, acct.sid, acct.token)
    sms = client.messages.create(to=TO, from_=FROM, body="hello")
    assert sms.sid.startswith("SM") and sms.num_media == "0" and sms.num_segments == "1"

    url = files.add("/messages/create/pic.png", png_bytes(2048))
    mms = client.messages.create(to=TO, from_=FROM, body="with a picture", media_url=[url])
    # Twilio's create answer counts no media yet; they are fetched afterwards.
    assert mms.sid.startswith("MM") and mms.num_media == "0" and mms.status == "queued"
    assert settled(client, mms.sid).num_media == "1"
    # A message with only media and no Body is fine too.
    bare = client.messages.create(to=TO, from_=FROM, media_url=[url])
    assert bare.sid.startswith("MM") and bare.body == ""

    fetched = client.messages(mms.sid).fetch()
    assert (fetched.sid, fetched.to, fetched.from_, fetched.body) == (mms.sid, TO, FROM, "with a picture")
    assert fetched.date_created is not None and fetched.date_created.tzinfo is not None
    raw = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{mms.sid}.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()
    assert_matches_schema(raw, MESSAGE_SCHEMA)
    assert raw["num_media"] == "1"


# --------------------------------------------------------------------------- paging


@pytest.fixture(scope="module")
def paged(server: RunningServer) -> Iterator[tuple[Account, list[str]]]:
    """An account with 25 messages; the sids in creation order."""
    acct = server.new_account("messages-paging")
    created: list[str] = []
    with requests.Session() as s:
        s.auth = (acct.sid, acct.token)
        for i in range(25):
            r = s.post(messages_url(server, acct), data={"To": TO, "From": FROM, "Body": f"#{i}"}, timeout=10)
            assert r.status_code == 201, r.text
            created.append(r.json()["sid"])
    yield acct, created


def test_list_walks_every_page_newest_first(server: RunningServer, paged: tuple[Account, list[str]]) -> None:
    acct, created = paged
    client = twilio_client(server, acct.sid, acct.token)
    listed = [m.sid for m in client.messages.list(page_size=7)]
    assert listed == list(reversed(created))
    assert len(set(listed)) == 25
    # limit stops early without skipping.
    assert [m.sid for m in client.messages.list(limit=10, page_size=7)] == list(reversed(created))[:10]


# --------------------------------------------------------------------------- media list


# --------------------------------------------------------------------------- channels


# --------------------------------------------------------------------------- UpdateMessage (redaction)
