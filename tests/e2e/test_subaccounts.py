"""Subaccounts against the real server, a sample on each database: twilio-python creates, lists,
fetches and updates them, and the parent's token and keys (every credential form) reach a
subaccount's resources. Every rule of the resource (filters, errors, status changes, closing,
who may do what) is checked with the app in process: tests/inprocess/test_api_subaccounts.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from mediagate.db.models import Media
from mediagate.media import media as media_service
from mediagate.messaging import messages as message_service
from tests.support.clients import assert_twilio_error, main_key, standard_key, twilio_client
from tests.support.fileserver import png_bytes
from tests.support.server import Account, RunningServer

TO, FROM = "+15551230001", "+15557650001"
ACCOUNT_SCHEMA = "api.v2010.account"
Creds = tuple[str, str]


# --------------------------------------------------------------------------- helpers


def assert_401(r: requests.Response) -> None:
    assert_twilio_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Twilio API"'


def accounts_url(server: RunningServer, sid: str | None = None) -> str:
    base = f"{server.base_url}/2010-04-01/Accounts"
    return f"{base}/{sid}.json" if sid else f"{base}.json"


def new_subaccount(server: RunningServer, parent: Account, name: str) -> Account:
    r = requests.post(
        accounts_url(server), data={"FriendlyName": name}, auth=(parent.sid, parent.token), timeout=10
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["owner_account_sid"] == parent.sid
    return Account(body["sid"], body["auth_token"])


class Seeded:
    """One message with one PNG media item, arranged through the services."""

    def __init__(self, server: RunningServer, acct: Account) -> None:
        self.server = server
        self.acct = acct
        rt = server.runtime
        msg = message_service.create(
            rt, acct.sid, message_service.NewMessage(to=TO, from_=FROM, body="seed", media_urls=[]), actor="t"
        )
        self.message_sid = msg.sid
        self.body = png_bytes(1500)
        row = media_service.add(rt, acct.sid, msg.sid, "image/png", [self.body], filename="s.png")
        self.media_sid = row.sid
        self.storage_key = row.storage_key

    @property
    def base(self) -> str:
        return f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}"

    @property
    def content_url(self) -> str:
        return f"{self.base}/Messages/{self.message_sid}/Media/{self.media_sid}"

    def file(self) -> Path:
        path = self.server.runtime.store.local_path(self.storage_key)
        assert path is not None
        return path

    def media_rows(self) -> int:
        with self.server.runtime.sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Media).where(Media.account_sid == self.acct.sid)
                )
                or 0
            )

    def endpoints(self) -> list[tuple[str, str, str, dict[str, str] | None, int]]:
        """(name, method, url, form, success status) for the account's resources."""
        msg = f"{self.base}/Messages/{self.message_sid}"
        settings = f"{self.server.base_url}/v1/Accounts/{self.acct.sid}/MessagingSettings"
        return [
            ("messages.list", "GET", f"{self.base}/Messages.json", None, 200),
            (
                "messages.create",
                "POST",
                f"{self.base}/Messages.json",
                {"To": TO, "From": FROM, "Body": "x"},
                201,
            ),
            ("messages.fetch", "GET", f"{msg}.json", None, 200),
            ("media.list", "GET", f"{msg}/Media.json", None, 200),
            ("media.fetch", "GET", f"{msg}/Media/{self.media_sid}.json", None, 200),
            ("media.content", "GET", self.content_url, None, 307),
            ("settings.read", "GET", settings, None, 200),
            ("settings.write", "POST", settings, {"EnforceMediaHttpAuth": "true"}, 200),
            ("account.fetch", "GET", accounts_url(self.server, self.acct.sid), None, 200),
            ("keys.list", "GET", f"{self.base}/Keys.json", None, 200),
            ("iam.keys.list", "GET", f"{self.server.base_url}/v1/Keys?AccountSid={self.acct.sid}", None, 200),
        ]


def call(method: str, url: str, data: dict[str, str] | None, creds: Creds) -> requests.Response:
    return requests.request(method, url, data=data, auth=creds, allow_redirects=False, timeout=10)


# --------------------------------------------------------------------------- create / list / fetch / update


def test_create_list_fetch_update_with_twilio_python(server: RunningServer) -> None:
    parent = server.new_account("sub-parent")
    client = twilio_client(server, parent.sid, parent.token)

    sub = client.api.v2010.accounts.create(friendly_name="tenant one")
    assert sub.sid is not None and sub.sid.startswith("AC") and sub.sid != parent.sid
    assert sub.owner_account_sid == parent.sid
    assert sub.friendly_name == "tenant one"
    assert sub.status == "active"
    assert sub.auth_token and re.fullmatch(r"[0-9a-f]{32}", sub.auth_token)
    assert sub.date_created is not None

    listed = {a.sid: a for a in client.api.v2010.accounts.list()}
    assert set(listed) == {parent.sid, sub.sid}
    assert listed[parent.sid].owner_account_sid == parent.sid  # a parent is its own owner
    assert listed[sub.sid].owner_account_sid == parent.sid

    fetched = client.api.v2010.accounts(sub.sid).fetch()
    assert fetched.friendly_name == "tenant one" and fetched.auth_token == sub.auth_token

    renamed = client.api.v2010.accounts(sub.sid).update(friendly_name="tenant 1")
    assert renamed.friendly_name == "tenant 1"
    assert client.api.v2010.accounts(sub.sid).fetch().friendly_name == "tenant 1"

    # The new subaccount's token works on its own resources at once.
    own = twilio_client(server, sub.sid, sub.auth_token)
    assert own.messages.list() == []
    assert [a.sid for a in own.api.v2010.accounts.list()] == [sub.sid]


# --------------------------------------------------------------------------- who reaches what


@pytest.mark.parametrize("credential", ["token", "main_key", "standard_key"])
def test_parent_credentials_reach_the_subaccounts_resources(server: RunningServer, credential: str) -> None:
    parent = server.new_account("sub-reach")
    sub = new_subaccount(server, parent, "reached")
    seeded = Seeded(server, sub)
    creds: Creds = {
        "token": lambda: (parent.sid, parent.token),
        "main_key": lambda: main_key(server, parent),
        "standard_key": lambda: standard_key(server, parent),
    }[credential]()

    for name, method, url, data, ok in seeded.endpoints():
        r = call(method, url, data, creds)
        if credential == "standard_key" and name in ("account.fetch", "keys.list", "iam.keys.list"):
            # A standard key has no account or key management, not even on a subaccount.
            assert_twilio_error(r, 403, 70051)
            continue
        assert r.status_code == ok, f"{name}: {r.status_code} {r.text}"

    # The content URL, followed, gives the bytes.
    followed = requests.get(seeded.content_url, auth=creds, timeout=10)
    assert followed.status_code == 200 and followed.content == seeded.body

    # twilio-python with the parent's credential and the subaccount's sid.
    client = twilio_client(server, creds[0], creds[1], sub.sid)
    assert seeded.message_sid in {m.sid for m in client.messages.list()}
    assert [m.sid for m in client.messages(seeded.message_sid).media.list()] == [seeded.media_sid]
    sent = client.messages.create(to=TO, from_=FROM, body="from parent")
    assert sent.account_sid == sub.sid


# --------------------------------------------------------------------------- suspend / reactivate / close
