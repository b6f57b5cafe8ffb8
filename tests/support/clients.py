"""Clients and assertions the end-to-end suites share."""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

import requests
from twilio.rest import Client

from tests.support.server import MEDIAGATE, Account, RunningServer

Creds = tuple[str, str]


def basic(user: str, secret: str, encoding: str = "utf-8") -> str:
    """An ``Authorization: Basic`` header value for ``user:secret``."""
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode(encoding)).decode()


def twilio_client(server: RunningServer, user: str, password: str, account_sid: str | None = None) -> Client:
    """The official client pointed at ``server`` for v2010, accounts v1 and IAM v1."""
    client = Client(user, password, account_sid)
    client.api.base_url = server.base_url
    client.accounts.base_url = server.base_url
    client.iam.base_url = server.base_url
    return client


def assert_twilio_error(r: requests.Response, status: int, code: int | None = None) -> dict[str, Any]:
    """Twilio's error body, exactly its four keys, with this status (and code, when given)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "more_info", "status"}, body
    assert body["status"] == status, body
    assert isinstance(body["code"], int) and isinstance(body["message"], str) and body["message"], body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"
    if code is not None:
        assert body["code"] == code, body
    return body


def standard_key(server: RunningServer, acct: Account) -> Creds:
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys.json",
        data={"FriendlyName": "std"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()["sid"], r.json()["secret"]


def main_key(server: RunningServer, acct: Account) -> Creds:
    """Main keys come only from the CLI, as at Twilio's console."""
    out = subprocess.run(
        [str(MEDIAGATE), "keys", "create", acct.sid, "--kind", "main", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    created = json.loads(out.stdout.strip().splitlines()[-1])
    assert created["sid"].startswith("SK")
    return created["sid"], created["secret"]


def settled_message(
    server: RunningServer, acct: Account, message_sid: str, timeout: float = 60.0
) -> dict[str, Any]:
    """The message once its MediaUrl fetch is over. The create answers ``queued`` at
    once, as Twilio's does, and the media are fetched afterwards: the outcome
    (stored media, or ``failed`` with an error code) shows when the status leaves
    ``queued``."""
    from tests.support.loops import eventually

    url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}.json"

    def probe() -> dict[str, Any] | None:
        got: dict[str, Any] = requests.get(url, auth=(acct.sid, acct.token), timeout=30).json()
        return None if got.get("status") == "queued" else got

    return eventually(probe, timeout=timeout)
