"""The per-account MediaUrl fetch share with two real server processes sharing
Redis: while one process's worker fetches for an account at its share, neither
process starts another fetch for that account (other accounts are fetched); the
slot comes back after."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests

from tests.support.clients import settled_message
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
        # Creates answer at once (as Twilio's do); the fetch workers of both processes
        # share the account's one slot through Redis.
        dripping = create(one, acct.sid, acct.token, slow.url("/drip/share.png"))
        assert dripping.status_code == 201, dripping.text
        slow.wait_for(1, "/drip/share.png")  # a worker holds the account's only slot
        waiting = create(two, acct.sid, acct.token, files.add(f"/share/{backend}/a.png", png_bytes(2000)))
        assert waiting.status_code == 201, waiting.text
        admitted = create(two, other.sid, other.token, files.add(f"/share/{backend}/b.png", png_bytes(2000)))
        assert admitted.status_code == 201, admitted.text
        # Another account is fetched meanwhile, by either process ...
        assert settled_message(two, other, admitted.json()["sid"])["num_media"] == "1"
        # ... while this account's second fetch waits, in both processes, for the slot.
        assert slow.active == 1, "the dripping fetch ended too early to tell"
        assert files.hits(f"/share/{backend}/a.png") == 0
        # The dripping fetch gives up at its deadline (11200) and gives the slot back.
        gave_up = settled_message(one, acct, dripping.json()["sid"])
        assert gave_up["status"] == "failed" and gave_up["error_code"] == 11200, gave_up
        assert settled_message(two, acct, waiting.json()["sid"])["num_media"] == "1"
        assert files.hits(f"/share/{backend}/a.png") == 1
