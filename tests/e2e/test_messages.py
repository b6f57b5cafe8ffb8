"""The Messages resource against the real server, a sample on each database: twilio-python creates
and fetches a message with media and walks a list's pages. Every rule of the resource is checked
with the app in process: tests/inprocess/test_api_messages.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_messages import (  # noqa: F401
    test_create_and_fetch_with_twilio_python,
    test_list_walks_every_page_newest_first,
)
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


# --------------------------------------------------------------------------- create / fetch / delete


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


# --------------------------------------------------------------------------- media list


# --------------------------------------------------------------------------- channels


# --------------------------------------------------------------------------- UpdateMessage (redaction)
