"""Subaccounts against the real server, a sample on each database: twilio-python creates, lists,
fetches and updates them, and the parent's token and keys (every credential form) reach a
subaccount's resources. Every rule of the resource (filters, errors, status changes, closing,
who may do what) is checked with the app in process: tests/inprocess/test_api_subaccounts.py."""

from __future__ import annotations

import requests

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_subaccounts import (  # noqa: F401
    test_create_list_fetch_update_with_twilio_python,
    test_parent_credentials_reach_the_subaccounts_resources,
)
from tests.support.server import Account, RunningServer

TO, FROM = "+15551230001", "+15557650001"
ACCOUNT_SCHEMA = "api.v2010.account"
Creds = tuple[str, str]


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- create / list / fetch / update


# --------------------------------------------------------------------------- who reaches what


# --------------------------------------------------------------------------- suspend / reactivate / close
