"""Subaccounts against the real server, a sample on each database: twilio-python creates, lists,
fetches and updates them, and the parent's token and keys (every credential form) reach a
subaccount's resources. Every rule of the resource (filters, errors, status changes, closing,
who may do what) is checked with the app in process: tests/inprocess/test_api_subaccounts.py."""

from __future__ import annotations

from pathlib import Path

import requests
from sqlalchemy import func, select

from mediagate.db.models import Media
from mediagate.media import media as media_service
from mediagate.messaging import messages as message_service

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_subaccounts import (  # noqa: F401
    test_create_list_fetch_update_with_twilio_python,
    test_parent_credentials_reach_the_subaccounts_resources,
)
from tests.support.clients import assert_twilio_error
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


# --------------------------------------------------------------------------- who reaches what


# --------------------------------------------------------------------------- suspend / reactivate / close
