"""A stalled or unreachable database degrades only the requests that need it.

Real servers, real databases: a lock held in another connection (a stall),
and a loopback TCP proxy between the server and PostgreSQL that is stopped
and started again (an outage). Client timeouts are bounds far below the
stall, not measurements.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import secrets
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import requests

from mediagate.accounts import accounts, keys
from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.runtime.context import build_runtime
from tests.support.clients import assert_twilio_error, settled_message, standard_key
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import run_fresh
from tests.support.server import Account, RunningServer, running_server
from tests.support.tcpproxy import tcp_proxy

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = [pytest.mark.e2e, pytest.mark.system]

BOUND = 2.5  # seconds: far below the stall, far above a normal answer


@dataclass(frozen=True)
class Secured:
    account: Account
    message_sid: str
    media_sid: str
    signed_url: str

    def auth(self) -> tuple[str, str]:
        return self.account.sid, self.account.token


def secured(server: RunningServer, files: FileServer, name: str) -> Secured:
    """A message with auth-required media, its signed URL issued and downloaded once."""
    acct = server.new_account(name)
    url = files.add(f"/dbfail/{acct.sid}.png", png_bytes(5000))
    api = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}"
    created = requests.post(
        f"{api}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": url},
        auth=(acct.sid, acct.token),
        timeout=60,
    )
    assert created.status_code == 201, created.text
    sid = created.json()["sid"]
    settled_message(server, acct, sid)  # stored after the create answered
    (media,) = requests.get(
        f"{api}/Messages/{sid}/Media.json", auth=(acct.sid, acct.token), timeout=60
    ).json()["media_list"]
    redirect = requests.get(
        f"{api}/Messages/{sid}/Media/{media['sid']}",
        auth=(acct.sid, acct.token),
        allow_redirects=False,
        timeout=60,
    )
    assert redirect.status_code == 307, redirect.text
    signed = redirect.headers["Location"]
    first = requests.get(signed, timeout=60)
    assert first.status_code == 200 and first.content == png_bytes(5000)
    return Secured(acct, sid, media["sid"], signed)


def content_url(server: RunningServer, s: Secured) -> str:
    return (
        f"{server.base_url}/2010-04-01/Accounts/{s.account.sid}/Messages/{s.message_sid}/Media/{s.media_sid}"
    )


def assert_503(r: requests.Response) -> None:
    assert_twilio_error(r, 503, 20503)
    assert r.headers["Retry-After"].isdigit(), r.headers


COHERENCE_BOUND = 2.0  # MEDIAGATE_COHERENCE_BOUND's default (cluster/coherence.py)


def assert_download_during_outage(s: Secured, outage_began: float, timeout: float) -> None:
    """A signed download while the database does not answer (issue 23): memory
    vouches for it only until the coherence bound has passed since the process's
    last read of the invalidations, which started before the outage; from then on
    the download takes the database path and answers 503 + Retry-After, within
    ``timeout`` (the database deadline), never waiting as long as the outage."""
    asked = time.monotonic()
    r = requests.get(s.signed_url, timeout=timeout)
    if asked - outage_began > COHERENCE_BOUND:
        assert_503(r)  # past the bound: nothing from memory
    elif r.status_code == 200:
        assert r.content == png_bytes(5000)
    else:
        assert_503(r)


class HeldLock:
    """Holds a lock in another connection, on its own thread, until released."""

    def __init__(self, url: str, sql: str) -> None:
        self._url, self._sql = url, sql
        self._held = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self._url.startswith("sqlite"):
            conn = sqlite3.connect(self._url.split("///", 1)[1], isolation_level=None)
            conn.execute(self._sql)
            self._held.set()
            self._release.wait(120)
            conn.execute("ROLLBACK")
            conn.close()
            return
        with psycopg.connect(self._url) as pg:
            pg.execute(self._sql)
            self._held.set()
            self._release.wait(120)
            pg.rollback()

    def __enter__(self) -> HeldLock:
        self._thread.start()
        assert self._held.wait(30), "could not take the lock"
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(30)


def wait_for_lock_waiters(url: str) -> None:
    """Until one of the server's queries waits on the held lock (PostgreSQL tells us)."""
    name = urlsplit(url).path.lstrip("/")
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as pg:
        while True:
            row = pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (name,),
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            assert time.monotonic() < deadline, "no request reached the lock"
            time.sleep(0.05)


def test_a_locked_media_table_stalls_only_the_requests_that_need_it(
    tmp_path: Path, files: FileServer
) -> None:
    """PostgreSQL: LOCK TABLE media held in another connection. The content
    redirect waits for it and answers 503 after the statement timeout; /healthz,
    other routes and signed downloads of issued URLs answer meanwhile."""
    with (
        fresh_database("postgresql", tmp_path) as url,
        running_server(tmp_path / "data", url, MEDIAGATE_DB_STATEMENT_TIMEOUT="4") as server,
    ):
        s = secured(server, files, "stall")
        # Credentials the server has not seen, one per request: each redirect must
        # read the database. A credential is remembered as soon as it passes
        # (media/hotcache.py), so a shared one would let the later requests be
        # answered from memory (rightly: 307) while the first waits on the lock.
        fresh = [standard_key(server, s.account) for _ in range(4)]
        messages_url = f"{server.base_url}/2010-04-01/Accounts/{s.account.sid}/Messages/{s.message_sid}.json"
        with HeldLock(url, "LOCK TABLE media IN ACCESS EXCLUSIVE MODE"), ThreadPoolExecutor(4) as pool:
            stalled = [
                pool.submit(requests.get, content_url(server, s), auth=key, allow_redirects=False, timeout=60)
                for key in fresh
            ]
            wait_for_lock_waiters(url)
            # While those requests wait on the database, everything else answers.
            assert requests.get(f"{server.base_url}/healthz", timeout=BOUND).status_code == 200
            download = requests.get(s.signed_url, timeout=BOUND)
            assert download.status_code == 200 and download.content == png_bytes(5000)
            assert requests.get(messages_url, auth=s.auth(), timeout=BOUND).status_code == 200
            # The stalled ones end with a clean 503 once the statement timeout strikes.
            for future in stalled:
                assert_503(future.result())
        # The lock is gone: the redirect works again.
        again = requests.get(content_url(server, s), auth=s.auth(), allow_redirects=False, timeout=60)
        assert again.status_code == 307


def test_a_locked_sqlite_database_answers_503_after_the_busy_timeout(
    tmp_path: Path, files: FileServer
) -> None:
    """SQLite: another process holds the write lock. Writes end in 503 after the
    busy timeout (it was 30 s, then a 500); reads, /healthz and downloads answer."""
    with (
        fresh_database("sqlite", tmp_path) as url,
        running_server(tmp_path / "data", url, MEDIAGATE_DB_STATEMENT_TIMEOUT="1") as server,
    ):
        s = secured(server, files, "sqlite-busy")
        message_url = f"{server.base_url}/2010-04-01/Accounts/{s.account.sid}/Messages/{s.message_sid}.json"
        with HeldLock(url, "BEGIN IMMEDIATE"):
            assert_503(requests.delete(message_url, auth=s.auth(), timeout=4 * BOUND))
            assert requests.get(f"{server.base_url}/healthz", timeout=BOUND).status_code == 200
            assert requests.get(s.signed_url, timeout=BOUND).status_code == 200
            assert requests.get(message_url, auth=s.auth(), timeout=BOUND).status_code == 200
        # Nothing was deleted by the refused request; now it goes through.
        assert requests.delete(message_url, auth=s.auth(), timeout=60).status_code == 204


def _basic(acct: Account) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{acct.sid}:{acct.token}".encode()).decode()


def test_database_outage_503_signed_downloads_until_the_coherence_bound_and_recovery(
    tmp_path: Path, files: FileServer
) -> None:
    """PostgreSQL behind a loopback TCP proxy that is stopped (connections
    dropped, new ones refused) and started again."""
    with fresh_database("postgresql", tmp_path) as direct, tcp_proxy("127.0.0.1", 5432) as proxy:
        proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}{urlsplit(direct).path}"
        with running_server(tmp_path / "data", proxied, MEDIAGATE_DB_CONNECT_TIMEOUT="2") as server:
            s = secured(server, files, "outage")
            fresh = standard_key(server, s.account)  # not remembered: the redirect reads the database
            api = f"/2010-04-01/Accounts/{s.account.sid}"
            list_url = f"{server.base_url}{api}/Messages.json"
            assert requests.get(list_url, auth=s.auth(), timeout=60).status_code == 200

            proxy.stop()
            try:
                # Database routes: 503 + Retry-After, Twilio's body, on a kept-alive connection.
                conn = http.client.HTTPConnection(
                    "127.0.0.1", int(urlsplit(server.base_url).port or 0), timeout=30
                )
                local_ports = set()
                for _ in range(3):
                    conn.request("GET", f"{api}/Messages.json", headers={"Authorization": _basic(s.account)})
                    resp = conn.getresponse()
                    resp.read()
                    assert resp.status == 503 and resp.getheader("Retry-After"), resp.status
                    assert not resp.will_close
                    assert conn.sock is not None
                    local_ports.add(conn.sock.getsockname()[1])
                assert len(local_ports) == 1  # one connection served all three
                conn.close()
                assert_503(
                    requests.get(content_url(server, s), auth=fresh, allow_redirects=False, timeout=30)
                )
                # A signed download answered from memory works only while the process can
                # vouch that memory is current (MEDIAGATE_COHERENCE_BOUND, 2 s after its last
                # read of the invalidations, docs/deploy.md "Consistency bound"): a revocation
                # made meanwhile elsewhere must not be missed. Then 503 + Retry-After.
                stopped = time.monotonic()
                while (r := requests.get(s.signed_url, timeout=BOUND)).status_code == 200:
                    assert r.content == png_bytes(5000)
                    assert time.monotonic() - stopped < 2.0 + BOUND, "memory answered past the bound"
                    time.sleep(0.1)
                assert_503(r)
                assert requests.get(f"{server.base_url}/healthz", timeout=BOUND).status_code == 200
            finally:
                proxy.start()

            # Recovery: the pool replaces its dead connections; routes answer again.
            deadline = time.monotonic() + 30
            while requests.get(list_url, auth=s.auth(), timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the outage:\n" + server.log()
                time.sleep(0.2)
            redirect = requests.get(content_url(server, s), auth=s.auth(), allow_redirects=False, timeout=30)
            assert redirect.status_code == 307
            assert requests.get(redirect.headers["Location"], timeout=30).content == png_bytes(5000)
            # Every failed request was recognised as "database unavailable", none as a bug.
            # (The webhook worker's own retries are not requests; they log on their own.)
            assert "unhandled error" not in server.log()
            assert "database unavailable on GET" in server.log()


CONNECT_TIMEOUT = 2
# Not a measurement: the bound that tells "gave up after the connect timeout"
# from "waits as long as the database does not answer", with room for a busy machine.
CONNECT_BOUND = CONNECT_TIMEOUT + 8


def test_a_database_that_accepts_and_never_answers_fails_requests_after_the_connect_timeout(
    tmp_path: Path, files: FileServer
) -> None:
    """PostgreSQL behind the loopback proxy, which drops its connections and then
    accepts new ones and never answers them (a black hole: no refusal that would
    fail fast). Every connection the server opens waits for the connect timeout,
    no longer: database routes answer 503 + Retry-After within it; /healthz
    answers meanwhile, and signed downloads answer from memory only within the
    coherence bound, then 503 within the connect timeout too."""
    with fresh_database("postgresql", tmp_path) as direct, tcp_proxy("127.0.0.1", 5432) as proxy:
        proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}{urlsplit(direct).path}"
        with running_server(
            tmp_path / "data", proxied, MEDIAGATE_DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT)
        ) as server:
            s = secured(server, files, "blackhole")
            fresh = standard_key(server, s.account)  # not remembered: the redirect reads the database
            api = f"{server.base_url}/2010-04-01/Accounts/{s.account.sid}"
            message = {"To": "+15551230001", "From": "+15557650001", "Body": "into the void"}

            proxy.stop()
            outage_began = time.monotonic()
            proxy.start(silent=True)
            try:
                for _ in range(2):  # the first may fail at once on a dropped pooled connection
                    assert_503(requests.get(f"{api}/Messages.json", auth=s.auth(), timeout=CONNECT_BOUND))
                    assert_503(
                        requests.get(
                            content_url(server, s), auth=fresh, allow_redirects=False, timeout=CONNECT_BOUND
                        )
                    )
                    assert_503(
                        requests.post(
                            f"{api}/Messages.json", data=message, auth=s.auth(), timeout=CONNECT_BOUND
                        )
                    )
                    assert requests.get(f"{server.base_url}/healthz", timeout=BOUND).status_code == 200
                    assert_download_during_outage(s, outage_began, timeout=CONNECT_BOUND)
            finally:
                proxy.stop()
                proxy.start()

            deadline = time.monotonic() + 30
            while requests.get(f"{api}/Messages.json", auth=s.auth(), timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the black hole:\n" + server.log()
                time.sleep(0.2)
            # Nothing was created while the database did not answer.
            listed = requests.get(f"{api}/Messages.json", auth=s.auth(), timeout=30).json()["messages"]
            assert [m["sid"] for m in listed] == [s.message_sid]
            assert "unhandled error" not in server.log()


STATEMENT_TIMEOUT = 1
# The watchdog cuts a statement STATEMENT_TIMEOUT + 2 s after it started; the bound
# tells "cut" from "waits as long as the socket stays open", with room for a busy machine.
FROZEN_BOUND = STATEMENT_TIMEOUT + 2 + 8


def test_a_database_that_stops_answering_on_open_connections_fails_requests_after_a_deadline(
    tmp_path: Path, files: FileServer
) -> None:
    """The proxy keeps the pool's open connections and forwards nothing more
    (PostgreSQL wedged, or a proxy holding on): the server's statement_timeout
    never fires, since the server never sees the query, and the kernel ACKs
    everything, so neither do TCP keepalives. The client-side deadline
    (db/watchdog.py) drops such a connection: each request answers 503 +
    Retry-After in bounded time, signed downloads too once the coherence bound
    has passed (before it they may answer from memory), and the server recovers
    once the database answers again."""
    with fresh_database("postgresql", tmp_path) as direct, tcp_proxy("127.0.0.1", 5432) as proxy:
        proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}{urlsplit(direct).path}"
        with running_server(
            tmp_path / "data",
            proxied,
            MEDIAGATE_DB_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT),
            MEDIAGATE_DB_CONNECT_TIMEOUT="2",
        ) as server:
            s = secured(server, files, "frozen")
            fresh = standard_key(server, s.account)  # not remembered: the redirect reads the database
            api = f"{server.base_url}/2010-04-01/Accounts/{s.account.sid}"
            # Warm: the pool now holds open connections, which the freeze keeps open.
            assert requests.get(f"{api}/Messages.json", auth=s.auth(), timeout=30).status_code == 200
            proxy.freeze()
            outage_began = time.monotonic()
            try:
                for _ in range(2):
                    assert_503(requests.get(f"{api}/Messages.json", auth=s.auth(), timeout=FROZEN_BOUND))
                    assert_503(
                        requests.get(
                            content_url(server, s), auth=fresh, allow_redirects=False, timeout=FROZEN_BOUND
                        )
                    )
                    assert requests.get(f"{server.base_url}/healthz", timeout=BOUND).status_code == 200
                    assert_download_during_outage(s, outage_began, timeout=FROZEN_BOUND)
            finally:
                proxy.stop()
                proxy.start()

            deadline = time.monotonic() + 30
            while requests.get(f"{api}/Messages.json", auth=s.auth(), timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the freeze:\n" + server.log()
                time.sleep(0.2)
            assert "client-side deadline" in server.log()
            assert "unhandled error" not in server.log()


STALL = 3.0
SLOW = 1.5


def test_no_request_holds_the_event_loop_while_the_database_stalls(
    tmp_path: Path, files: FileServer, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process, under asyncio debug mode: any callback that holds the loop
    for SLOW seconds is logged ("Executing ... took"). With the media table
    locked and a STALL-second statement timeout, a request path that ran SQL
    on the loop would hold it for STALL seconds; none may. (SLOW is half of
    STALL so that a step slowed by a busy machine is not mistaken for it.)"""
    with fresh_database("postgresql", tmp_path) as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            secret_key=secrets.token_hex(32),
            public_url="http://mediagate.test",
            allow_private_media_urls=True,
            db_statement_timeout=STALL,
            signing_key_refresh=0.5,
            gc_interval=0,
        )
        rt = build_runtime(settings)
        try:
            created = accounts.create(rt, "loop")
            acct = Account(created.account.sid, created.auth_token)
            app = create_app(rt)
            media_url = files.add(f"/loop/{acct.sid}.png", png_bytes(3000))
            statuses: dict[str, int] = {}

            async def main() -> None:
                asyncio.get_running_loop().slow_callback_duration = SLOW
                auth = (acct.sid, acct.token)
                async with (
                    app.router.lifespan_context(app),
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test", timeout=60
                    ) as client,
                ):
                    api = f"/2010-04-01/Accounts/{acct.sid}"
                    made = await client.post(
                        f"{api}/Messages.json",
                        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": media_url},
                        auth=auth,
                    )
                    assert made.status_code == 201, made.text
                    sid = made.json()["sid"]
                    # The media are fetched by the lifespan's worker after the create answered.
                    while (await client.get(f"{api}/Messages/{sid}.json", auth=auth)).json()[
                        "status"
                    ] == "queued":
                        await asyncio.sleep(0.05)
                    listed = await client.get(f"{api}/Messages/{sid}/Media.json", auth=auth)
                    content = f"{api}/Messages/{sid}/Media/{listed.json()['media_list'][0]['sid']}"
                    signed = (await client.get(content, auth=auth)).headers["location"]
                    assert (await client.get(signed)).status_code == 200
                    # A credential not remembered yet: the redirect has to wait for the database.
                    fresh = keys.create(rt, acct.sid, "fresh", actor="test")
                    lock = HeldLock(url, "LOCK TABLE media IN ACCESS EXCLUSIVE MODE")
                    await asyncio.to_thread(lock.__enter__)
                    try:
                        got = await asyncio.gather(
                            client.get(content, auth=(fresh.key.sid, fresh.secret)),
                            client.get(f"{api}/Messages/{sid}/Media.json", auth=auth),
                            client.get(signed),
                            client.get("/healthz"),
                        )
                    finally:
                        await asyncio.to_thread(lock.__exit__)
                    statuses.update(
                        zip(
                            ["content", "list", "signed", "healthz"],
                            [r.status_code for r in got],
                            strict=True,
                        )
                    )

            with caplog.at_level(logging.WARNING, logger="asyncio"):
                run_fresh(main, debug=True)
        finally:
            rt.close()
    assert statuses == {"content": 503, "list": 503, "signed": 200, "healthz": 200}
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "Executing" in r.getMessage()]
    assert slow == []
