"""The per-account MediaUrl fetch share with two real server processes sharing
Redis: while one process fetches for an account at its share, the other refuses
that account with 429 / 20429 (and admits others); the slot comes back after."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.clients import assert_twilio_error
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import RunningServer, running_server
from tests.support.shared_redis import REDIS_URL
from tests.support.slow import running_slow_server

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = pytest.mark.system

TIMEOUT = 60


def create(server: RunningServer, sid: str, token: str, media_url: str) -> requests.Response:
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": media_url},
        auth=(sid, token),
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_fetch_share_of_an_account_holds_across_processes(
    backend: str, tmp_path: Path, files: FileServer, redis_prefix: str
) -> None:
    env = {
        "MEDIAGATE_SECRET_KEY": secrets.token_hex(32),
        "MEDIAGATE_REDIS_URL": REDIS_URL,
        "MEDIAGATE_REDIS_KEY_PREFIX": redis_prefix,
        "MEDIAGATE_FETCH_CONCURRENCY_PER_ACCOUNT": "1",
        "MEDIAGATE_FETCH_DEADLINE": "5",  # the dripping fetch gives up after this
    }
    with (
        running_slow_server() as slow,
        fresh_database(backend, tmp_path) as url,
        running_server(tmp_path / "one", url, **env) as one,
        running_server(tmp_path / "two", url, **env) as two,
    ):
        acct, other = one.new_account("share"), one.new_account("other")
        held: dict[str, Any] = {}

        def fetching() -> None:
            held["r"] = create(one, acct.sid, acct.token, slow.url("/drip/share.png"))

        worker = threading.Thread(target=fetching)
        worker.start()
        slow.wait_for(1, "/drip/share.png")  # process one holds the account's only slot
        refused = create(two, acct.sid, acct.token, files.add("/share/a.png", png_bytes(2000)))
        body = assert_twilio_error(refused, 429, 20429)
        assert "across the deployment" in body["message"]
        admitted = create(two, other.sid, other.token, files.add("/share/b.png", png_bytes(2000)))
        assert admitted.status_code == 201, admitted.text
        worker.join(TIMEOUT)
        assert held["r"].status_code != 429  # the dripping fetch was admitted (and gave up at its deadline)
        again = create(two, acct.sid, acct.token, files.add("/share/c.png", png_bytes(2000)))
        assert again.status_code == 201, again.text  # its slot was given back
