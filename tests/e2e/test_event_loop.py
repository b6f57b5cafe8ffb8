"""No request path holds the event loop, even while PostgreSQL is stuck.

The real server runs in asyncio debug mode (``PYTHONASYNCIODEBUG=1``), which
logs ``Executing <...> took N seconds`` for every callback that kept the loop
longer than 100 ms. Another connection then locks the tables the hot paths
read (``LOCK TABLE ... ACCESS EXCLUSIVE``) for ``HOLD`` seconds while the
content redirect, the secured host, the public host and the metadata route
are asked for things the server has not remembered yet: each of them has to
wait for the database. Off the loop they wait on their threads; a path that
ran its query on the loop would stall it for about ``HOLD`` seconds, and
that is the report this test looks for (any slow callback of at least half
the hold: ordinary scheduling jitter on a loaded machine never comes near).

PostgreSQL only: it is the database that can be made to stall on demand
(SQLite's WAL readers are never blocked by another connection).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import requests

from mediagate.services import accounts, media, messages
from tests.e2e.test_token_rotation import Seeded
from tests.support.databases import fresh_database
from tests.support.fileserver import png_bytes
from tests.support.server import RunningServer, running_server

HOLD = 3.0
TIMEOUT = 60
SLOW = re.compile(r"Executing .* took (\d+\.\d+) seconds")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("event-loop")
    with (
        fresh_database("postgresql", tmp) as url,
        running_server(tmp / "data", url, PYTHONASYNCIODEBUG="1") as srv,
    ):
        yield srv


def slow_reports(server: RunningServer) -> list[float]:
    return [float(m.group(1)) for m in SLOW.finditer(server.log())]


def test_a_stalled_database_does_not_hold_the_loop(server: RunningServer) -> None:
    acct = server.new_account("loop")
    creds = (acct.sid, acct.token)
    legacy_acct = server.new_account("loop-legacy")
    accounts.set_enforcement(server.runtime, legacy_acct.sid, False, actor="test", via="test")
    secured = Seeded(server, acct)
    new = messages.NewMessage(to="+15551230001", from_="+15557650001", body="legacy", media_urls=[])
    msg = messages.create(server.runtime, legacy_acct.sid, new, actor="test")
    legacy = media.add(server.runtime, legacy_acct.sid, msg.sid, "image/png", [png_bytes(400)])
    assert not legacy.auth_required
    # A signed URL whose media the secured host has not looked up yet.
    signed = requests.get(secured.content_url, auth=creds, allow_redirects=False, timeout=TIMEOUT)
    assert signed.status_code == 307
    fresh = Seeded(server, acct)  # never asked for: the redirect must read the database
    public_url = f"{server.runtime.settings.public_media_url}/{legacy_acct.sid}/{legacy.sid}"
    before = slow_reports(server)

    calls = {
        "content redirect": lambda: (
            requests.get(fresh.content_url, auth=creds, allow_redirects=False, timeout=TIMEOUT).status_code
        ),
        "secured host": lambda: requests.get(signed.headers["location"], timeout=TIMEOUT).status_code,
        "public host": lambda: requests.get(public_url, timeout=TIMEOUT).status_code,
        "metadata": lambda: (
            requests.get(fresh.content_url + ".json", auth=creds, timeout=TIMEOUT).status_code
        ),
    }
    results: dict[str, int] = {}

    def run(name: str) -> None:
        results[name] = calls[name]()

    with psycopg.connect(server.env["MEDIAGATE_DATABASE_URL"]) as conn:
        conn.execute("LOCK TABLE media, accounts, api_keys IN ACCESS EXCLUSIVE MODE")
        threads = [threading.Thread(target=run, args=(name,)) for name in calls]
        for t in threads:
            t.start()
        time.sleep(HOLD)  # how long the database stays stuck, not a measurement
        # The loop is free: the liveness probe answers while those requests wait.
        assert requests.get(server.base_url + "/healthz", timeout=TIMEOUT).status_code == 200
        assert not results, results  # they really were waiting for the database
        conn.rollback()  # releases the lock
    for t in threads:
        t.join(TIMEOUT)
    assert results == {"content redirect": 307, "secured host": 200, "public host": 200, "metadata": 200}
    held = [s for s in slow_reports(server)[len(before) :] if s >= HOLD / 2]
    assert not held, f"a request path held the event loop: {held}"
